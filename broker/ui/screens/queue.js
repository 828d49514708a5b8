// The queue browser of one subscription (`#/queue/<sub_key>`, dead letters at
// `#/queue/<sub_key>/dead`): GD and in-RAM messages merged in delivery order, a page at a time;
// clearing the queue; requeueing or purging dead letters.

import { get, post, del, seg } from "../api.js";
import { Screen, html, nothing, time, prefix, dataText, options } from "../view.js";
import { nodeConsoleUrl } from "./cluster.js";

const PAGE_SIZES = [20, 50, 100, 500];

export class QueueScreen extends Screen {
  subKey = this.ctx.params[0];
  dead = this.ctx.params[1] === "dead";
  sub = null;
  rows = [];
  offset = 0;
  limit = 50;
  /** Where the owner node's console is, when the queue lives on another node. */
  ownerConsole = null;

  async load() {
    this.sub = await get(`/subscriptions/${seg(this.subKey)}`);
    if (this.sub.node && this.sub.node !== this.ctx.node) {
      this.ownerConsole = await nodeConsoleUrl(this.sub.node, location.hash);
    }
    const what = this.dead ? "dead-letters" : "queue";
    this.rows = await get(`/subscriptions/${seg(this.subKey)}/${what}?limit=${this.limit}&offset=${this.offset}`);
  }

  page(offset) {
    this.offset = Math.max(0, offset);
    this.act(() => this.load(), { reload: false });
  }

  setLimit(select) {
    this.limit = Number(select.value);
    this.page(0);
  }

  command(confirmText, path, verb) {
    if (!confirm(confirmText)) return;
    this.act(async () => {
      const answer = await post(`/subscriptions/${seg(this.subKey)}/${path}`);
      this.notice = `${answer.deleted ?? answer.requeued ?? 0} messages ${verb}.`;
      this.offset = 0;
    });
  }

  purge() {
    if (!confirm(`Delete every dead letter of ${this.subKey}?`)) return;
    this.act(async () => {
      const answer = await del(`/subscriptions/${seg(this.subKey)}/dead-letters`);
      this.notice = `${answer.deleted} dead letters deleted.`;
      this.offset = 0;
    });
  }

  removeMessage(m) {
    if (!confirm(`Delete message ${m.msg_id} from every queue holding it?`)) return;
    this.act(() => del(`/messages/${seg(m.msg_id)}`), { notice: `Message ${m.msg_id} deleted.` });
  }

  view() {
    const s = this.sub;
    const base = `#/queue/${seg(this.subKey)}`;
    return html`
      <h2>${this.dead ? "Dead letters" : "Queue"} of <code>${this.subKey}</code></h2>
      ${s
        ? html`<p class="subtitle">${s.endpoint} → ${s.topic_name} · ${s.delivery_method}, ack ${s.ack_mode}
            · delivered by node <strong>${s.node ?? "?"}</strong>
            ${this.ownerConsole ? html` · <a href=${this.ownerConsole}>open node ${s.node}'s console</a>` : nothing}</p>`
        : nothing}
      ${this.status()}
      <nav class="tabs" aria-label="Queue or dead letters">
        <a href=${base} aria-current=${this.dead ? "false" : "page"}>Queue</a>
        <a href="${base}/dead" aria-current=${this.dead ? "page" : "false"}>Dead letters</a>
        <a href="#/actors/delivery:${seg(this.subKey)}">Delivery actor</a>
      </nav>
      <div class="toolbar">
        <label>Per page <select @change=${(e) => this.setLimit(e.target)}>${options(PAGE_SIZES.map(String), String(this.limit))}</select></label>
        <button type="button" ?disabled=${this.offset === 0} @click=${() => this.page(this.offset - this.limit)}>Previous page</button>
        <span>Messages ${this.rows.length ? this.offset + 1 : 0}–${this.offset + this.rows.length}</span>
        <button type="button" ?disabled=${this.rows.length < this.limit} @click=${() => this.page(this.offset + this.limit)}>Next page</button>
        <button type="button" class="secondary" @click=${() => this.page(this.offset)}>Refresh</button>
        ${this.canWrite ? this.writeControls() : nothing}
      </div>
      <table class="messages">
        <thead><tr>
          <th scope="col">Message id</th><th scope="col">Storage</th><th scope="col">Priority</th>
          <th scope="col">Deliveries</th><th scope="col">Data</th><th scope="col">Published</th>
          <th scope="col">Expires</th>${this.canWrite ? html`<th scope="col">Actions</th>` : nothing}
        </tr></thead>
        <tbody>
          ${this.rows.length === 0 ? html`<tr><td colspan="8" class="muted">${this.dead ? "No dead letters." : "The queue is empty."}</td></tr>` : nothing}
          ${this.rows.map(
            (m) => html`<tr data-msg-id=${m.msg_id}>
              <td><a href="#/message/${seg(m.msg_id)}"><code>${m.msg_id}</code></a></td>
              <td>${m.has_gd ? html`<span class="tag gd">GD</span>` : html`<span class="tag">RAM</span>`}</td>
              <td class="num">${m.priority}</td>
              <td class="num">${m.delivery_count}</td>
              <td class="data">${prefix(dataText(m.data))}</td>
              <td>${time(m.pub_time_iso)}</td>
              <td>${time(m.expiration_time_iso)}</td>
              ${this.canWrite
                ? html`<td class="actions"><button type="button" class="danger" @click=${() => this.removeMessage(m)}>Delete</button></td>`
                : nothing}
            </tr>`,
          )}
        </tbody>
      </table>`;
  }

  writeControls() {
    if (!this.dead) {
      return html`<button type="button" class="danger"
        @click=${() => this.command(`Delete every message queued for ${this.subKey}?`, "clear", "deleted")}>Clear queue</button>`;
    }
    return html`
      <button type="button" @click=${() => this.command(`Put every dead letter of ${this.subKey} back in its queue?`, "dead-letters/requeue", "requeued")}>Requeue all</button>
      <button type="button" class="danger" @click=${() => this.purge()}>Purge dead letters</button>`;
  }
}
