// Connections: live WSX sessions and the REST clients each node has seen, by endpoint — address,
// since, last seen, messages in and out and their rates (`GET /admin/v1/connections`),
// refreshed every few seconds. The route answers both lists whole, so one search box finds in
// both and each is paged here, over what the page holds.

import { get, seg } from "../api.js";
import { Screen, html, nothing, time, opt, perSecond, count } from "../view.js";
import { ListPage } from "../list.js";

const REFRESH_MS = 5000;

export class ConnectionsScreen extends Screen {
  connections = null;
  wsxList = new ListPage(this, {
    noun: "WSX sessions",
    search: "endpoint, client or address",
    fields: (s) => [s.endpoint, s.session_id, s.client_name, s.client_id, s.address, s.node, s.channel],
  });
  /** Searched with the WSX sessions' box. */
  restList = new ListPage(this, {
    noun: "REST clients",
    key: "rest-",
    fields: (r) => [r.endpoint, r.address, r.node],
    follows: this.wsxList,
  });

  async load() {
    this.connections = await get("/connections");
    this.wsxList.setAll(this.connections.wsx);
    this.restList.setAll(this.connections.rest);
  }

  async start() {
    await super.start();
    this.every(REFRESH_MS, () => this.act(() => this.load(), { reload: false }));
  }

  view() {
    const c = this.connections;
    return html`
      <h2>Connections</h2>
      ${this.status()}
      ${c?.unreachable?.length
        ? html`<p class="error-text" role="note">Not answering, so not listed: ${c.unreachable.join(", ")}.</p>`
        : nothing}
      ${c ? this.wsxList.controls({ pager: false }) : nothing}
      ${c ? this.wsx(this.wsxList.rows) : nothing}
      ${c ? this.rest(this.restList.rows) : nothing}`;
  }

  wsx(rows) {
    return html`<section aria-label="WSX sessions">
      <h3>WSX sessions</h3>
      ${this.wsxList.pagerBar()}
      <table>
        <caption>Messages are WebSocket frames, counted by the node the client is connected to.</caption>
        <thead><tr>
          <th scope="col">Endpoint</th><th scope="col">Client</th><th scope="col">Address</th>
          <th scope="col">Node</th><th scope="col">Since</th><th scope="col">Last seen</th>
          <th scope="col">In / out</th><th scope="col">Rate in / out</th><th scope="col">Subscriptions</th>
        </tr></thead>
        <tbody>
          ${rows.length === 0 ? html`<tr><td colspan="9" class="muted">${this.wsxList.empty("No WSX client is connected.")}</td></tr>` : nothing}
          ${rows.map(
            (s) => html`<tr data-session=${s.session_id} data-endpoint=${s.endpoint ?? ""}>
              <th scope="row">${opt(s.endpoint)}<br><code class="small">${s.session_id}</code></th>
              <td>${opt(s.client_name)}${s.client_id ? html`<br><code class="small">${s.client_id}</code>` : nothing}
                <br><span class="muted">on ${s.channel}</span></td>
              <td data-field="address"><code>${s.address}</code></td>
              <td>${s.node}</td>
              <td>${time(s.since)}</td>
              <td>${time(s.last_seen)}</td>
              <td class="num">${count(s.msgs_in)} / ${count(s.msgs_out)}</td>
              <td class="num">${perSecond(s.rate_in)} / ${perSecond(s.rate_out)}</td>
              <td>${(s.subscriptions ?? []).map((k) => html`<a href="#/queue/${seg(k)}"><code class="small">${k}</code></a> `)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </section>`;
  }

  rest(rows) {
    return html`<section aria-label="REST clients">
      <h3>REST clients</h3>
      ${this.restList.pagerBar()}
      <table>
        <caption>Each endpoint's credentials as used from one address, since the node started; in counts
          publications, out messages pulled. Active: heard from in the last five minutes.</caption>
        <thead><tr>
          <th scope="col">Endpoint</th><th scope="col">Address</th><th scope="col">Node</th>
          <th scope="col">Since</th><th scope="col">Last seen</th><th scope="col">In / out</th>
          <th scope="col">Rate in / out</th>
        </tr></thead>
        <tbody>
          ${rows.length === 0 ? html`<tr><td colspan="7" class="muted">${this.restList.empty("No REST client seen yet.")}</td></tr>` : nothing}
          ${rows.map(
            (r) => html`<tr data-rest-client=${`${r.endpoint} ${r.address}`} data-endpoint=${r.endpoint}>
              <th scope="row">${r.endpoint}${r.active ? nothing : html` <span class="tag">idle</span>`}</th>
              <td data-field="address"><code>${r.address}</code></td>
              <td>${r.node}</td>
              <td>${time(r.since)}</td>
              <td>${time(r.last_seen)}</td>
              <td class="num">${count(r.msgs_in)} / ${count(r.msgs_out)}</td>
              <td class="num">${perSecond(r.rate_in)} / ${perSecond(r.rate_out)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </section>`;
  }
}
