// WSX channels: the list, searched (name or path) and paged by the server; create, edit,
// delete; and (`#/channels/<id>`) the live sessions of one channel on this node, searched and
// paged too, where a connected client can be invoked (`zwsx.rqc`) or disconnected.

import { get, patch, post, del, seg } from "../api.js";
import { Screen, html, nothing, onSubmit, readForm, time, opt, jsonBlock } from "../view.js";
import { ListPage } from "../list.js";

export class ChannelsScreen extends Screen {
  channelId = this.ctx.params[0] ?? null;
  list = new ListPage(this, { noun: "Channels", path: "/channels", search: "name or path" });
  sessions = this.channelId
    ? new ListPage(this, {
        noun: "Sessions",
        path: `/channels/${seg(this.channelId)}/sessions`,
        search: "session, endpoint, client or address",
        key: "sessions-",
      })
    : null;
  /** The channel whose sessions are shown. */
  channel = null;
  editing = null;
  /** `{session_id, reply}` of the last client invocation. */
  reply = null;

  async load() {
    const [, channel] = await Promise.all([
      this.list.load(),
      this.channelId ? get(`/channels/${seg(this.channelId)}`) : null,
      this.sessions?.load(),
    ]);
    this.channel = channel;
  }

  save(form) {
    const e = this.editing;
    this.act(async () => {
      const body = readForm(form);
      const saved = e ? await patch(`/channels/${e.id}`, body) : await post("/channels", body);
      this.editing = null;
      if (!e) form.reset();
      this.notice = `Channel ${saved.name} saved.`;
    });
  }

  remove(c) {
    if (!confirm(`Delete channel ${c.name} and close its sessions?`)) return;
    this.act(() => del(`/channels/${c.id}`), { notice: `Channel ${c.name} deleted.` });
  }

  invoke(form, session) {
    this.act(async () => {
      const reply = await post(`/sessions/${seg(session.session_id)}/invoke`, readForm(form).request ?? null);
      this.reply = { session_id: session.session_id, reply };
    }, { reload: false });
  }

  disconnect(session) {
    if (!confirm(`Disconnect client ${session.client_name ?? session.session_id}?`)) return;
    this.act(() => del(`/sessions/${seg(session.session_id)}`), {
      notice: `Session ${session.session_id} is being closed.`,
    });
  }

  view() {
    return html`
      <h2>WSX channels</h2>
      ${this.status()}
      ${this.canWrite ? this.form(this.editing) : nothing}
      ${this.list.controls()}
      <table>
        <thead><tr>
          <th scope="col">Name</th><th scope="col">Path</th><th scope="col">Service</th>
          <th scope="col">Token TTL (s)</th><th scope="col">Ping (s)</th><th scope="col">Actions</th>
        </tr></thead>
        <tbody>
          ${this.list.rows.length === 0 ? html`<tr><td colspan="6" class="muted">${this.list.empty("No channels yet.")}</td></tr>` : nothing}
          ${this.list.rows.map(
            (c) => html`<tr>
              <th scope="row">${c.name}</th><td><code>${c.path}</code></td><td>${c.service}</td>
              <td class="num">${c.token_ttl}</td><td class="num">${c.ping_interval}</td>
              <td class="actions">
                <a class="button" href="#/channels/${c.id}">Sessions</a>
                ${this.canWrite
                  ? html`<button type="button" @click=${() => { this.editing = c; this.update(); }}>Edit</button>
                      <button type="button" class="danger" @click=${() => this.remove(c)}>Delete</button>`
                  : nothing}
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${this.channelId ? this.sessionsView() : nothing}`;
  }

  form(c) {
    const v = (k) => (c ? String(c[k] ?? "") : "");
    return html`<details class="panel" ?open=${!!c}>
      <summary>${c ? `Edit channel ${c.name}` : "Create a channel"}</summary>
      <form name="channel" @submit=${onSubmit((f) => this.save(f))}>
        <label>Name <input name="name" required .value=${v("name")}></label>
        <label>Path <input name="path" required placeholder="/wsx/gateway" .value=${v("path")}></label>
        <label>Service <input name="service" placeholder="helpers.web-sockets-gateway" .value=${v("service")}></label>
        <label class="wide">Allowed services, one a line
          <textarea name="allowed_services" data-kind="lines" rows="2" .value=${c?.allowed_services?.join("\n") ?? ""}></textarea></label>
        <label>New token wait (s) <input name="new_token_wait_time" type="number" step="any" data-kind="number" .value=${v("new_token_wait_time")}></label>
        <label>Token TTL (s) <input name="token_ttl" type="number" step="any" data-kind="number" .value=${v("token_ttl")}></label>
        <label>Ping interval (s) <input name="ping_interval" type="number" step="any" data-kind="number" .value=${v("ping_interval")}></label>
        <label>Missed pings before closing <input name="pings_missed_threshold" type="number" data-kind="number" .value=${v("pings_missed_threshold")}></label>
        <label>Max frame size (bytes) <input name="max_frame_size" type="number" data-kind="number" .value=${v("max_frame_size")}></label>
        <button type="submit">${c ? "Save" : "Create channel"}</button>
        ${c ? html`<button type="button" class="secondary" @click=${() => { this.editing = null; this.update(); }}>Cancel</button>` : nothing}
      </form>
    </details>`;
  }

  sessionsView() {
    const c = this.channel;
    return html`<section aria-label="Live sessions">
      <h3>Live sessions of ${c?.name ?? `channel ${this.channelId}`} on node ${this.ctx.node}</h3>
      <p class="hint">Each node lists the clients connected to it; open another node's console for its clients.</p>
      ${this.sessions.controls()}
      <table>
        <thead><tr>
          <th scope="col">Session</th><th scope="col">Client</th><th scope="col">Endpoint</th>
          <th scope="col">Peer</th><th scope="col">Connected</th><th scope="col">Subscriptions</th>
          ${this.canWrite ? html`<th scope="col">Actions</th>` : nothing}
        </tr></thead>
        <tbody>
          ${this.sessions.rows.length === 0
            ? html`<tr><td colspan="7" class="muted">${this.sessions.empty("No client is connected to this node.")}</td></tr>`
            : nothing}
          ${this.sessions.rows.map((s) => this.sessionRow(s))}
        </tbody>
      </table>
    </section>`;
  }

  sessionRow(s) {
    return html`<tr>
      <th scope="row"><code>${s.session_id}</code></th>
      <td>${opt(s.client_name)}${s.client_id ? html`<br><code class="small">${s.client_id}</code>` : nothing}</td>
      <td>${opt(s.endpoint)}</td><td>${opt(s.peer_address)}</td><td>${time(s.since)}</td>
      <td>${(s.subscriptions ?? []).map((k) => html`<a href="#/queue/${seg(k)}"><code>${k}</code></a> `)}</td>
      ${this.canWrite
        ? html`<td class="actions">
            <form name="invoke-client" class="inline" @submit=${onSubmit((f) => this.invoke(f, s))}>
              <label>Request (JSON) <textarea name="request" data-kind="json" rows="1">{}</textarea></label>
              <button type="submit">Invoke client</button>
            </form>
            <button type="button" class="danger" @click=${() => this.disconnect(s)}>Disconnect</button>
            ${this.reply?.session_id === s.session_id ? html`<div role="status"><strong>Reply</strong>${jsonBlock(this.reply.reply)}</div>` : nothing}
          </td>`
        : nothing}
    </tr>`;
  }
}
