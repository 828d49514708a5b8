// Actors with their state and counters — searched (id or topic name), filtered by kind and node
// and paged by the server — and the commands each kind takes (pause/resume/restart/clear/move a
// delivery actor, clear a topic, reconnect/stop/start a link). `#/actors/<actor_id>` shows that
// one actor.

import { get, post, seg } from "../api.js";
import { Screen, html, nothing, time, opt, options } from "../view.js";
import { clusterNodes } from "./cluster.js";
import { ListPage } from "../list.js";

const KINDS = ["", "supervisor", "topic", "delivery", "peer", "session"];

/** The commands of each kind, as the admin API takes them (INTERFACES §8). */
const COMMANDS = {
  delivery: ["pause", "resume", "restart", "clear"],
  topic: ["clear"],
  peer: ["reconnect", "stop", "start"],
};

/** Whether `command` makes sense for an actor in `state`: a paused actor is resumed, not paused
 * again; a stopped link is started, a running one stopped or reconnected. */
export function fits(command, state) {
  switch (command) {
    case "pause":
      return state !== "paused";
    case "resume":
      return state === "paused";
    case "start":
      return state === "stopped";
    case "stop":
    case "reconnect":
      return state !== "stopped";
    default:
      return true;
  }
}

const DESTRUCTIVE = new Set(["clear", "stop"]);

export class ActorsScreen extends Screen {
  only = this.ctx.params[0] ?? null;
  /** The one actor of `#/actors/<actor_id>`. */
  actor = null;
  /** Names of the cluster's nodes, or just this node without clustering. */
  nodes = [this.ctx.node];
  list = new ListPage(this, {
    noun: "Actors",
    path: "/actors",
    search: "id or topic",
    refresh: true,
    filters: [
      { name: "kind", label: "Kind", choices: KINDS.map((k) => [k, k || "all"]) },
      { name: "node", label: "Node", choices: () => [["", "all"], ...this.nodes.map((n) => [n, n])] },
    ],
  });

  async load() {
    const cluster = await clusterNodes();
    if (cluster) this.nodes = cluster.map((n) => n.name);
    if (this.only) this.actor = await get(`/actors/${seg(this.only)}`);
    else await this.list.load();
  }

  /** The actors shown: the page, or the one actor. */
  get actors() {
    return this.only ? (this.actor ? [this.actor] : []) : this.list.rows;
  }

  command(actor, command) {
    if (DESTRUCTIVE.has(command) && !confirm(`${command} ${actor.id}?`)) return;
    this.act(() => post(`/actors/${seg(actor.id)}/${command}`), { notice: `${command}: ${actor.id}` });
  }

  move(actor, form) {
    const node = form.elements.node.value;
    this.act(() => post(`/actors/${seg(actor.id)}/move`, { node }), { notice: `${actor.id} moved to ${node}.` });
  }

  view() {
    return html`
      <h2>${this.only ? html`Actor <code>${this.only}</code>` : "Actors"}</h2>
      ${this.status()}
      ${this.only ? html`<p><a href="#/actors">All actors</a></p>` : this.list.controls()}
      <table>
        <thead><tr>
          <th scope="col">Actor</th><th scope="col">Node</th><th scope="col">State</th>
          <th scope="col">Queue (RAM / GD)</th><th scope="col">In flight</th><th scope="col">Delivered / failed</th>
          <th scope="col">Last error</th><th scope="col">Since</th>${this.canWrite ? html`<th scope="col">Control</th>` : nothing}
        </tr></thead>
        <tbody>
          ${this.only || this.actors.length
            ? nothing
            : html`<tr><td colspan=${this.canWrite ? 9 : 8} class="muted">${this.list.empty("No actors.")}</td></tr>`}
          ${this.actors.map((a) => this.row(a))}
        </tbody>
      </table>
      ${this.only && this.actors[0] ? this.extra(this.actors[0]) : nothing}`;
  }

  row(a) {
    return html`<tr data-actor-id=${a.id}>
      <th scope="row"><a href="#/actors/${seg(a.id)}"><code>${a.id}</code></a>
        ${a.topic_name ?? a.name ? html`<br><span class="muted">${a.topic_name ?? a.name}</span>` : nothing}</th>
      <td>${a.node}</td>
      <td><span class="state state-${a.state}" data-field="state">${a.state}</span></td>
      <td class="num">${opt(a.queue_depth_ram)} / ${opt(a.queue_depth_gd)}</td>
      <td class="num">${opt(a.in_flight)}</td>
      <td class="num">${opt(a.delivered)} / ${opt(a.failed)}</td>
      <td class="error-text">${opt(a.last_error)}</td>
      <td>${time(a.since)}</td>
      ${this.canWrite ? html`<td class="actions">${this.controls(a)}</td>` : nothing}
    </tr>`;
  }

  controls(a) {
    const buttons = (COMMANDS[a.kind] ?? []).filter((c) => fits(c, a.state)).map(
      (c) => html`<button type="button" data-command=${c} class=${DESTRUCTIVE.has(c) ? "danger" : ""}
        aria-label="${c} ${a.id}" @click=${() => this.command(a, c)}>${c}</button>`,
    );
    const others = this.nodes.filter((n) => n !== a.node);
    // Moving needs another node to move to: on a node alone there is no such control.
    if (a.kind !== "delivery" || others.length === 0) return buttons;
    return html`${buttons}
      <form name="move" class="inline" @submit=${(e) => { e.preventDefault(); this.move(a, e.target); }}>
        <label>Move to <select name="node">${options(others)}</select></label>
        <button type="submit" data-command="move">move</button>
      </form>`;
  }

  extra(a) {
    const more = a.session ?? a.link;
    return more ? html`<h3>Details</h3><pre class="json">${JSON.stringify(more, null, 2)}</pre>` : nothing;
  }
}
