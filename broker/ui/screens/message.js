// One queued message (`#/message/<msg_id>`): every field, the queues holding it, the in-place
// edit (data, priority, expiration, correlation, mime type) and deletion from every queue.

import { get, patch, del, seg } from "../api.js";
import { Screen, html, nothing, onSubmit, readForm, dataText, jsonBlock } from "../view.js";

/** Fields shown in the details table, in this order; the rest follow. */
const FIRST = ["msg_id", "topic_name", "has_gd", "priority", "mime_type", "size", "pub_time_iso",
  "expiration", "expiration_time_iso", "correl_id", "in_reply_to", "ext_client_id", "group_id",
  "position_in_group", "ext_pub_time_iso", "pub_pattern_matched"];

export class MessageScreen extends Screen {
  msgId = this.ctx.params[0];
  message = null;
  deleted = false;

  async load() {
    if (!this.deleted) this.message = await get(`/messages/${seg(this.msgId)}`);
  }

  edit(form) {
    this.act(async () => patch(`/messages/${seg(this.msgId)}`, readForm(form)), {
      notice: `Message ${this.msgId} edited in every queue holding it.`,
    });
  }

  remove() {
    if (!confirm(`Delete message ${this.msgId} from every queue holding it?`)) return;
    this.act(
      async () => {
        await del(`/messages/${seg(this.msgId)}`);
        this.deleted = true;
      },
      { notice: `Message ${this.msgId} deleted.`, reload: false },
    );
  }

  view() {
    const m = this.message;
    return html`
      <h2>Message <code>${this.msgId}</code></h2>
      ${this.status()}
      ${m && !this.deleted ? this.details(m) : nothing}`;
  }

  details(m) {
    const rest = Object.keys(m).filter((k) => !FIRST.includes(k) && !["data", "sub_keys", "user_ctx"].includes(k));
    const row = (k) => (m[k] === undefined ? nothing : html`<tr><th scope="row">${k}</th><td>${String(m[k])}</td></tr>`);
    return html`
      <div class="columns">
        <section aria-label="Message details">
          <h3>Details</h3>
          <table class="details"><tbody>${FIRST.map(row)}${rest.map(row)}</tbody></table>
          <h3>Data</h3>
          <pre class="data" data-field="data">${dataText(m.data, 2)}</pre>
          ${m.user_ctx !== undefined ? html`<h3>User context</h3>${jsonBlock(m.user_ctx)}` : nothing}
          <h3>Queued for</h3>
          <ul>${(m.sub_keys ?? []).map((k) => html`<li><a href="#/queue/${seg(k)}"><code>${k}</code></a></li>`)}</ul>
        </section>
        ${this.canWrite ? this.editForm(m) : nothing}
      </div>`;
  }

  editForm(m) {
    return html`<section class="panel" aria-label="Edit message in place">
      <h3>Edit in place</h3>
      <form name="edit-message" @submit=${onSubmit((f) => this.edit(f))}>
        <label class="wide">Data (JSON, or plain text)
          <textarea name="data" data-kind="json-or-text" rows="6" required .value=${dataText(m.data, 2)}></textarea></label>
        <label>Priority <input name="priority" type="number" min="1" max="9" data-kind="number" .value=${String(m.priority)}></label>
        <label>Expiration (s) <input name="expiration" type="number" min="0" data-kind="number" .value=${String(m.expiration)}></label>
        <label class="check"><input type="checkbox" name="exp_from_now"> Expiration counts from now (not from publication)</label>
        <label>Correlation id <input name="correl_id" .value=${m.correl_id ?? ""}></label>
        <label>In reply to <input name="in_reply_to" .value=${m.in_reply_to ?? ""}></label>
        <label>MIME type <input name="mime_type" .value=${m.mime_type ?? ""}></label>
        <button type="submit">Save changes</button>
        <button type="button" class="danger" @click=${() => this.remove()}>Delete message</button>
      </form>
    </section>`;
  }
}
