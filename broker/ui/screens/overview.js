// The overview, the console's landing page: the cluster's rates, depths, dead letters,
// connections and nodes now, and charts of them over the last minutes to hours — from
// `GET /admin/v1/overview` and `/overview/history`, refreshed every few seconds.

import { get } from "../api.js";
import { lineChart, valuesOf } from "../chart.js";
import { Screen, html, nothing, options, perSecond, count, shortTime } from "../view.js";

/** Chart ranges offered, in seconds. */
const RANGES = [
  ["300", "5 minutes"],
  ["900", "15 minutes"],
  ["3600", "1 hour"],
  ["21600", "6 hours"],
  ["86400", "24 hours"],
];
const REFRESH_MS = 5000;

export class OverviewScreen extends Screen {
  overview = null;
  history = null;
  range = sessionStorage.getItem("signalbox.overview-range") ?? "900";

  async load() {
    const [overview, history] = await Promise.all([
      get("/overview"),
      get(`/overview/history?range=${this.range}`),
    ]);
    this.overview = overview;
    this.history = history;
  }

  async start() {
    await super.start();
    // A refresh that fails shows its error and the next one tries again.
    this.every(REFRESH_MS, () => this.act(() => this.load(), { reload: false }));
  }

  setRange(select) {
    this.range = select.value;
    sessionStorage.setItem("signalbox.overview-range", this.range);
    this.act(() => this.load(), { reload: false });
  }

  view() {
    const o = this.overview;
    return html`
      <h2>Overview</h2>
      ${this.status()}
      ${o ? this.figures(o) : nothing}
      ${this.history ? this.charts(this.history) : nothing}
      ${o && o.by_node.length > 1 ? this.nodes(o) : nothing}`;
  }

  figures(o) {
    const tile = (name, label, value, href) => html`<div class="tile" data-figure=${name}>
      <span class="label">${href ? html`<a href=${href}>${label}</a>` : label}</span>
      <span class="value">${value}</span></div>`;
    return html`
      <p class="subtitle">The cluster now${o.by_node.length > 1 ? ` (${o.by_node.length} nodes answering)` : ""};
        updated ${shortTime(o.time)}, rates over the last ${o.interval} s.</p>
      <section class="tiles" aria-label="Figures now">
        ${tile("publish", "Published", perSecond(o.rates.publish))}
        ${tile("deliver", "Delivered", perSecond(o.rates.deliver))}
        ${tile("ack", "Acknowledged", perSecond(o.rates.ack))}
        ${tile("depth-gd", "GD depth", count(o.depth.gd), "#/topics")}
        ${tile("depth-ram", "In-RAM depth", count(o.depth.ram), "#/topics")}
        ${tile("in-flight", "In flight", count(o.in_flight), "#/subscriptions")}
        ${tile("dead-letters", "Dead letters", count(o.dead_letters), "#/subscriptions")}
        ${tile("wsx", "WSX connections", count(o.connections.wsx), "#/connections")}
        ${tile("rest", "REST clients", count(o.connections.rest), "#/connections")}
        ${tile("nodes", "Nodes live", `${o.nodes.live} / ${o.nodes.total}`, "#/cluster")}
        ${tile("topics", "Topics", count(o.topics), "#/topics")}
        ${tile("subscriptions", "Subscriptions", count(o.subscriptions), "#/subscriptions")}
      </section>
      <p class="hint">Totals since each node started: ${count(o.totals.published)} published,
        ${count(o.totals.delivered)} delivered, ${count(o.totals.acked)} acknowledged,
        ${count(o.totals.dead_lettered)} dead-lettered.</p>`;
  }

  charts(h) {
    const to = Date.now();
    const from = to - h.range * 1000;
    const p = h.points;
    return html`
      <div class="toolbar">
        <label>Charts over the last
          <select name="range" @change=${(e) => this.setRange(e.target)}>${options(RANGES, this.range)}</select></label>
        <span>one point every ${h.interval} s (${p.length} so far)</span>
      </div>
      <div class="charts">
        ${lineChart({
          name: "rates",
          title: "Messages per second",
          unit: "/s",
          from,
          to,
          series: [
            { label: "published", values: valuesOf(p, "publish") },
            { label: "delivered", values: valuesOf(p, "deliver") },
            { label: "acknowledged", values: valuesOf(p, "ack") },
          ],
        })}
        ${lineChart({
          name: "depths",
          title: "Messages held",
          from,
          to,
          series: [
            { label: "GD", values: valuesOf(p, "depth_gd") },
            { label: "in RAM", values: valuesOf(p, "depth_ram") },
            { label: "in flight", values: valuesOf(p, "in_flight") },
            { label: "dead letters", values: valuesOf(p, "dead_letters") },
          ],
        })}
        ${lineChart({
          name: "connections",
          title: "Connections",
          from,
          to,
          series: [
            { label: "WSX", values: valuesOf(p, "wsx") },
            { label: "REST clients", values: valuesOf(p, "rest") },
          ],
        })}
      </div>`;
  }

  nodes(o) {
    return html`<table>
      <caption>Each node's share (GD depth is the cluster's, read by every node).</caption>
      <thead><tr>
        <th scope="col">Node</th><th scope="col">Published</th><th scope="col">Delivered</th>
        <th scope="col">In RAM</th><th scope="col">Dead letters</th><th scope="col">WSX / REST</th>
      </tr></thead>
      <tbody>
        ${o.by_node.map((n) =>
          n.reachable
            ? html`<tr data-node=${n.node}>
                <th scope="row">${n.node}</th>
                <td class="num">${perSecond(n.rates.publish)}</td>
                <td class="num">${perSecond(n.rates.deliver)}</td>
                <td class="num">${count(n.depth.ram)}</td>
                <td class="num">${count(n.dead_letters)}</td>
                <td class="num">${count(n.connections.wsx)} / ${count(n.connections.rest)}</td>
              </tr>`
            : html`<tr data-node=${n.node}><th scope="row">${n.node}</th>
                <td colspan="5" class="error-text">did not answer</td></tr>`,
        )}
      </tbody>
    </table>`;
  }
}
