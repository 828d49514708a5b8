// Cluster nodes as `GET /admin/v1/cluster/nodes` reports them, each linked to its own console.

import { get } from "../api.js";
import { Screen, html, nothing, time, yesNo } from "../view.js";

/** Every node of the cluster, or null when this node has no cluster API (a 404). */
export async function clusterNodes() {
  try {
    return await get("/cluster/nodes");
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

/** The console address of node `name` (at `hash`), when the cluster knows where it is. */
export async function nodeConsoleUrl(name, hash = "") {
  const nodes = await clusterNodes();
  const node = nodes?.find((n) => n.name === name);
  return node?.advertise_url ? consoleUrl(node.advertise_url) + hash : null;
}

const consoleUrl = (advertise) => `${advertise.replace(/\/+$/, "")}/admin/ui/`;

export class ClusterScreen extends Screen {
  nodes = null;

  async load() {
    // The error of this call (a 404 on a node without clustering) is shown as the API gave it.
    this.nodes = await get("/cluster/nodes");
  }

  view() {
    return html`
      <h2>Cluster nodes</h2>
      ${this.status()}
      <div class="toolbar"><button type="button" class="secondary" @click=${() => this.start()}>Refresh</button></div>
      ${this.nodes
        ? html`<table>
            <thead><tr>
              <th scope="col">Node</th><th scope="col">State</th><th scope="col">Leader</th>
              <th scope="col">Subscriptions</th><th scope="col">Last heartbeat</th><th scope="col">Console</th>
            </tr></thead>
            <tbody>
              ${this.nodes.map(
                (n) => html`<tr data-node=${n.name}>
                  <th scope="row">${n.name}${n.name === this.ctx.node ? html` <span class="tag">this node</span>` : nothing}</th>
                  <td><span class="state state-${n.state}">${n.state}</span></td>
                  <td>${yesNo(n.leader)}</td>
                  <td class="num">${n.subscriptions}</td>
                  <td>${time(n.last_heartbeat)}</td>
                  <td>${n.advertise_url ? html`<a href=${consoleUrl(n.advertise_url)}>${n.advertise_url}</a>` : nothing}</td>
                </tr>`,
              )}
            </tbody>
          </table>`
        : nothing}`;
  }
}
