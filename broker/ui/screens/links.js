// Outgoing WSX links to other clusters: state, next attempt and last error as this node's link
// actor reports them, the list searched (name or address) and paged by the server; create, edit
// (the secret is write-only), delete; reconnect/stop/start; and invoking a service on the remote
// end.

import { patch, post, del, seg } from "../api.js";
import { Screen, html, nothing, onSubmit, readForm, time, opt, jsonBlock } from "../view.js";
import { fits } from "./actors.js";
import { ListPage } from "../list.js";

export class LinksScreen extends Screen {
  list = new ListPage(this, { noun: "Links", path: "/links", search: "name or address" });
  editing = null;
  /** `{link, reply}` of the last invocation. */
  reply = null;

  async load() {
    await this.list.load();
  }

  save(form) {
    const e = this.editing;
    this.act(async () => {
      const body = readForm(form);
      const saved = e ? await patch(`/links/${e.id}`, body) : await post("/links", body);
      this.editing = null;
      if (!e) form.reset();
      this.notice = `Link ${saved.name} saved.`;
    });
  }

  remove(l) {
    if (!confirm(`Delete link ${l.name}?`)) return;
    this.act(() => del(`/links/${l.id}`), { notice: `Link ${l.name} deleted.` });
  }

  control(l, command) {
    this.act(() => post(`/actors/${seg(`peer:${l.name}`)}/${command}`), { notice: `Link ${l.name}: ${command} sent.` });
  }

  invoke(form, l) {
    this.act(async () => {
      const reply = await post(`/links/${l.id}/invoke`, readForm(form));
      this.reply = { link: l.name, reply };
    }, { reload: false });
  }

  view() {
    return html`
      <h2>Links</h2>
      ${this.status()}
      ${this.canWrite ? this.form(this.editing) : nothing}
      ${this.list.controls()}
      <table>
        <caption>State as seen by node ${this.ctx.node}.</caption>
        <thead><tr>
          <th scope="col">Name</th><th scope="col">Address</th><th scope="col">State</th>
          <th scope="col">Next attempt</th><th scope="col">Last error</th><th scope="col">Topics</th>
          <th scope="col">Received / acked</th><th scope="col">Actions</th>
        </tr></thead>
        <tbody>
          ${this.list.rows.length === 0 ? html`<tr><td colspan="8" class="muted">${this.list.empty("No links yet.")}</td></tr>` : nothing}
          ${this.list.rows.map((l) => this.row(l))}
        </tbody>
      </table>
      ${this.reply ? html`<section role="status" aria-label="Reply"><h3>Reply over ${this.reply.link}</h3>${jsonBlock(this.reply.reply)}</section>` : nothing}`;
  }

  row(l) {
    return html`<tr data-link=${l.name}>
      <th scope="row">${l.name}</th>
      <td><code>${l.address}</code></td>
      <td><span class="state state-${l.state}">${opt(l.state)}</span></td>
      <td>${time(l.next_attempt)}</td>
      <td class="error-text">${opt(l.last_error)}</td>
      <td>${(l.subscription_list ?? []).join(", ")}</td>
      <td class="num">${opt(l.received)} / ${opt(l.acked)}</td>
      <td class="actions">
        ${this.canWrite
          ? html`${[["reconnect", "Reconnect"], ["stop", "Stop"], ["start", "Start"]]
                .filter(([c]) => fits(c, l.state))
                .map(([c, label]) => html`<button type="button" data-command=${c} @click=${() => this.control(l, c)}>${label}</button> `)}
              <button type="button" @click=${() => { this.editing = l; this.update(); }}>Edit</button>
              <button type="button" class="danger" @click=${() => this.remove(l)}>Delete</button>
              <form name="invoke-link" class="inline" @submit=${onSubmit((f) => this.invoke(f, l))}>
                <label>Service <input name="service" required placeholder="zato.ping"></label>
                <label>Request (JSON) <textarea name="request" data-kind="json" rows="1">{}</textarea></label>
                <button type="submit">Invoke</button>
              </form>`
          : nothing}
      </td>
    </tr>`;
  }

  form(l) {
    const v = (k) => (l ? String(l[k] ?? "") : "");
    return html`<details class="panel" ?open=${!!l}>
      <summary>${l ? `Edit link ${l.name}` : "Create a link"}</summary>
      <form name="link" @submit=${onSubmit((f) => this.save(f))}>
        <label>Name <input name="name" required .value=${v("name")}></label>
        <label>Address <input name="address" required placeholder="wss://remote.example.net/wsx/gateway" .value=${v("address")}></label>
        <label>Username <input name="username" ?required=${!l} .value=${v("username")}></label>
        <label>Secret <input name="secret" type="password" autocomplete="new-password" ?required=${!l}
          placeholder=${l ? "unchanged" : ""}></label>
        <label class="wide">Topics to subscribe to, one a line
          <textarea name="subscription_list" data-kind="lines" rows="2" .value=${l?.subscription_list?.join("\n") ?? ""}></textarea></label>
        <label>On connect (service) <input name="on_connect" .value=${v("on_connect")}></label>
        <label>On message (service) <input name="on_message" .value=${v("on_message")}></label>
        <label>On close (service) <input name="on_close" .value=${v("on_close")}></label>
        <label>Ping interval (s) <input name="ping_interval" type="number" step="any" data-kind="number" .value=${v("ping_interval")}></label>
        <label>Invoke timeout (s) <input name="invoke_timeout" type="number" step="any" data-kind="number" .value=${v("invoke_timeout")}></label>
        <label>Max connect attempts <input name="max_connect_attempts" type="number" min="1" data-kind="number" .value=${v("max_connect_attempts")}></label>
        <label>CA file <input name="ca_file" .value=${v("ca_file")}></label>
        <label class="check"><input type="checkbox" name="is_zato" ?checked=${l?.is_zato ?? true}
          .checked=${l?.is_zato ?? true}> Remote end is Zato-compatible</label>
        <label class="check"><input type="checkbox" name="auto_reconnect" ?checked=${l?.auto_reconnect ?? true}
          .checked=${l?.auto_reconnect ?? true}> Reconnect automatically</label>
        <button type="submit">${l ? "Save" : "Create link"}</button>
        ${l ? html`<button type="button" class="secondary" @click=${() => { this.editing = null; this.update(); }}>Cancel</button>` : nothing}
      </form>
    </details>`;
  }
}
