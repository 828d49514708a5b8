// The page of one subscription (`#/queue/<sub_key>`, dead letters at `#/queue/<sub_key>/dead`):
// its figures (ready GD / in-RAM, in flight, dead letters, rates, the oldest message's age) with
// a chart of its depth over time, refreshed every few seconds; its queue — GD and in-RAM messages
// merged in delivery order, a page at a time — or its dead letters with why and since when;
// clearing the queue and purging dead letters (typing the sub key to confirm), requeueing them.

import { get, getPage, post, del, seg } from "../api.js";
import { lineChart, valuesOf } from "../chart.js";
import {
  Screen, html, nothing, time, prefix, dataText, options, perSecond, count, age, confirmTyped,
} from "../view.js";
import { nodeConsoleUrl } from "./cluster.js";
import { pagerParts } from "../list.js";

const PAGE_SIZES = [20, 50, 100, 500];
const RANGES = [
  ["300", "5 minutes"],
  ["1800", "30 minutes"],
  ["7200", "2 hours"],
];
const REFRESH_MS = 5000;

export class QueueScreen extends Screen {
  subKey = this.ctx.params[0];
  dead = this.ctx.params[1] === "dead";
  sub = null;
  /** The subscription could not be read (unknown sub key): nothing but the error is shown. */
  missing = false;
  /** `GET /overview/subscriptions/{sub_key}`: figures now and the depth history. */
  figures = null;
  range = "300";
  rows = [];
  /** Messages in the whole queue (or dead-letter list), when known. */
  total = null;
  /** Where the messages shown start. */
  offset = 0;
  /** Where the page asked for starts (the messages shown stay until it comes). */
  asked = 0;
  limit = 50;
  /** Where the owner node's console is, when the queue lives on another node. */
  ownerConsole = null;

  async load() {
    try {
      this.sub = await get(`/subscriptions/${seg(this.subKey)}`);
    } catch (e) {
      this.missing = e.status === 404;
      throw e;
    }
    if (this.sub.node && this.sub.node !== this.ctx.node) {
      this.ownerConsole = await nodeConsoleUrl(this.sub.node, location.hash);
    }
    const what = this.dead ? "dead-letters" : "queue";
    const offset = this.asked;
    const [page] = await Promise.all([
      getPage(`/subscriptions/${seg(this.subKey)}/${what}?limit=${this.limit}&offset=${offset}`),
      this.loadFigures(),
    ]);
    this.offset = offset;
    this.rows = page.rows;
    this.total = page.total ?? this.totalFromFigures();
  }

  async loadFigures() {
    try {
      this.figures = await get(`/overview/subscriptions/${seg(this.subKey)}?range=${this.range}`);
    } catch (e) {
      // Figures are an extra (a subscription moving between nodes has none for a moment).
      if (e.status !== 503) throw e;
    }
  }

  /** What the figures say the queue (or dead-letter list) holds, for a node without totals. */
  totalFromFigures() {
    const f = this.figures;
    if (!f) return null;
    return this.dead ? f.dead_letters : f.ready_gd + f.ready_ram + f.in_flight;
  }

  async start() {
    await super.start();
    this.every(REFRESH_MS, () => {
      if (this.sub && !this.busy) this.loadFigures().then(() => this.update(), () => {});
    });
  }

  page(offset) {
    this.asked = Math.max(0, offset);
    this.act(() => this.load(), { reload: false });
  }

  setLimit(select) {
    this.limit = Number(select.value);
    this.page(0);
  }

  setRange(select) {
    this.range = select.value;
    this.act(() => this.loadFigures(), { reload: false });
  }

  requeue() {
    if (!confirm(`Put every dead letter of ${this.subKey} back in its queue?`)) return;
    this.act(async () => {
      const answer = await post(`/subscriptions/${seg(this.subKey)}/dead-letters/requeue`);
      this.notice = `${answer.requeued} messages requeued.`;
      this.asked = 0;
    });
  }

  async clear() {
    const sure = await confirmTyped({
      title: `Clear the queue of ${this.subKey}`,
      text: "Every message queued for this subscription is deleted, GD and in-RAM. This cannot be undone.",
      name: this.subKey,
      action: "Clear queue",
    });
    if (!sure) return;
    this.act(async () => {
      const answer = await post(`/subscriptions/${seg(this.subKey)}/clear`);
      this.notice = `${answer.deleted} messages deleted.`;
      this.asked = 0;
    });
  }

  async purge() {
    const sure = await confirmTyped({
      title: `Purge the dead letters of ${this.subKey}`,
      text: "Every dead letter of this subscription is deleted. This cannot be undone.",
      name: this.subKey,
      action: "Purge dead letters",
    });
    if (!sure) return;
    this.act(async () => {
      const answer = await del(`/subscriptions/${seg(this.subKey)}/dead-letters`);
      this.notice = `${answer.deleted} dead letters deleted.`;
      this.asked = 0;
    });
  }

  removeMessage(m) {
    if (!confirm(`Delete message ${m.msg_id} from every queue holding it?`)) return;
    this.act(() => del(`/messages/${seg(m.msg_id)}`), { notice: `Message ${m.msg_id} deleted.` });
  }

  view() {
    const s = this.sub;
    const base = `#/queue/${seg(this.subKey)}`;
    const heading = html`<h2>${this.dead ? "Dead letters" : "Queue"} of <code>${this.subKey}</code></h2>`;
    if (this.missing || !s) {
      return html`${heading}${this.status()}
        ${this.missing ? html`<p><a href="#/subscriptions">All subscriptions</a></p>` : nothing}`;
    }
    return html`
      ${heading}
      <p class="subtitle">${s.endpoint} → ${s.topic_name} · ${s.delivery_method}, ack ${s.ack_mode}
        · delivered by node <strong>${s.node ?? "?"}</strong>
        ${this.ownerConsole ? html` · <a href=${this.ownerConsole}>open node ${s.node}'s console</a>` : nothing}</p>
      ${this.status()}
      ${this.figures ? this.figuresView(this.figures) : nothing}
      <nav class="tabs" aria-label="Queue or dead letters">
        <a href=${base} aria-current=${this.dead ? "false" : "page"}>Queue</a>
        <a href="${base}/dead" aria-current=${this.dead ? "page" : "false"}>Dead letters</a>
        <a href="#/actors/delivery:${seg(this.subKey)}">Delivery actor</a>
      </nav>
      <div class="toolbar">
        <label>Per page <select @change=${(e) => this.setLimit(e.target)}>${options(PAGE_SIZES.map(String), String(this.limit))}</select></label>
        ${pagerParts({
          noun: this.dead ? "Dead letters" : "Messages",
          offset: this.offset,
          limit: this.limit,
          shown: this.rows.length,
          total: this.total,
          go: (offset) => this.page(offset),
        })}
        <button type="button" class="secondary" @click=${() => this.page(this.offset)}>Refresh</button>
        ${this.canWrite ? this.writeControls() : nothing}
      </div>
      ${this.table()}`;
  }

  figuresView(f) {
    const item = (name, label, value) =>
      html`<div class="tile" data-figure=${name}><span class="label">${label}</span><span class="value">${value}</span></div>`;
    const h = f.history;
    const to = Date.now();
    return html`<section class="figures" aria-label="Figures of the subscription">
      <div class="tiles">
        ${item("ready", "Ready GD / RAM", html`${count(f.ready_gd)} / ${count(f.ready_ram)}`)}
        ${item("in-flight", "In flight", count(f.in_flight))}
        ${item("dead-letters", "Dead letters", count(f.dead_letters))}
        ${item("deliver", "Delivered", perSecond(f.deliver_rate))}
        ${item("ack", "Acknowledged", perSecond(f.ack_rate))}
        ${item("oldest", "Oldest message", age(f.oldest_age))}
        ${item("state", "Delivery", html`<span class="state state-${f.state}">${f.state}</span>`)}
      </div>
      ${lineChart({
        name: "depth",
        title: "Depth over time",
        from: to - h.range * 1000,
        to,
        series: [
          { label: "GD", values: valuesOf(h.points, "depth_gd") },
          { label: "in RAM", values: valuesOf(h.points, "depth_ram") },
        ],
      })}
      <div class="chart-range">
        <label>Chart over the last
          <select name="range" @change=${(e) => this.setRange(e.target)}>${options(RANGES, this.range)}</select></label>
      </div>
    </section>`;
  }

  table() {
    const cols = this.canWrite ? 9 : 8;
    return html`<table class="messages">
      <thead><tr>
        <th scope="col">Message id</th><th scope="col">Storage</th><th scope="col">Priority</th>
        <th scope="col">Deliveries</th><th scope="col">Data</th><th scope="col">Published</th>
        ${this.dead
          ? html`<th scope="col">Dead-lettered</th><th scope="col">Why</th>`
          : html`<th scope="col">Expires</th><th scope="col">Received</th>`}
        ${this.canWrite ? html`<th scope="col">Actions</th>` : nothing}
      </tr></thead>
      <tbody>
        ${this.rows.length === 0
          ? html`<tr><td colspan=${cols} class="muted">${this.offset > 0
              ? "Nothing on this page."
              : this.dead ? "No dead letters." : "The queue is empty."}</td></tr>`
          : nothing}
        ${this.rows.map(
          (m) => html`<tr data-msg-id=${m.msg_id}>
            <td><a href="#/message/${seg(m.msg_id)}"><code>${m.msg_id}</code></a></td>
            <td>${m.has_gd ? html`<span class="tag gd">GD</span>` : html`<span class="tag">RAM</span>`}</td>
            <td class="num">${m.priority}</td>
            <td class="num">${m.delivery_count}</td>
            <td class="data">${prefix(dataText(m.data))}</td>
            <td>${time(m.pub_time_iso)}</td>
            ${this.dead
              ? html`<td data-field="dead-since">${time(m.dead_letter_time_iso)}</td>
                  <td data-field="reason">${m.dead_letter_reason ?? html`<span class="muted">—</span>`}</td>`
              : html`<td>${time(m.expiration_time_iso)}</td><td>${time(m.recv_time_iso)}</td>`}
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
      return html`<button type="button" class="danger" ?disabled=${this.total === 0} @click=${() => this.clear()}>Clear queue</button>`;
    }
    return html`
      <button type="button" ?disabled=${this.total === 0} @click=${() => this.requeue()}>Requeue all</button>
      <button type="button" class="danger" ?disabled=${this.total === 0} @click=${() => this.purge()}>Purge dead letters</button>`;
  }
}
