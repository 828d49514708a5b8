// Subscriptions: an endpoint tied to a topic, with its queue on one node and its figures (ready
// GD / in-RAM messages, in flight, dead letters, rates, the oldest message's age). The list is
// searched (sub key, topic or endpoint name), filtered by exact topic or endpoint and paged by
// the server. Create (pull or push to a target fitting the endpoint's type), edit, delete; each
// links to its queue browser.

import { get, patch, post, del, seg } from "../api.js";
import { Screen, html, nothing, onSubmit, readForm, opt, options, perSecond, count, age, shortTime } from "../view.js";
import { ListPage, NameField } from "../list.js";

/** What a `push` target looks like for each endpoint type (INTERFACES §8.1). */
const PUSH_EXAMPLES = {
  rest: '{"url": "https://example.net/hook", "http_method": "POST"}',
  soap: '{"url": "https://example.net/soap", "soap_action": "notify"}',
  amqp: '{"url": "amqp://user:password@127.0.0.1:5672/%2f", "exchange": "events", "routing_key": "orders"}',
  files: '{"directory": "/var/spool/signalbox/out"}',
  srv: '{"service": "my.service"}',
  wsx: "(WSX clients subscribe over their own connection)",
};

export class SubscriptionsScreen extends Screen {
  list = new ListPage(this, {
    noun: "Subscriptions",
    path: "/subscriptions",
    search: "sub key, topic or endpoint",
    filters: [
      { name: "topic_name", field: new NameField(this, { path: "/topics", name: "topic_name", label: "Topic", any: "any topic" }) },
      { name: "endpoint", field: new NameField(this, { path: "/endpoints", name: "endpoint", label: "Endpoint", any: "any endpoint" }) },
    ],
  });
  /** The create form's choices: any topic, an endpoint that may subscribe. */
  topics = new NameField(this, { path: "/topics", name: "topic_name", label: "Topic" });
  endpoints = new NameField(this, {
    path: "/endpoints",
    name: "endpoint",
    label: "Endpoint",
    text: (e) => `${e.name} (${e.endpoint_type})`,
    keep: (e) => e.role !== "pub-only",
  });
  editing = null;
  /** Endpoint type of the create form's chosen endpoint, for the push example. */
  pushType = "rest";

  /** Figures by sub key (`GET /overview/subscriptions`), of the subscriptions shown. */
  figures = new Map();

  async load() {
    await Promise.all([this.loadRows(), this.canWrite ? this.topics.load() : null, this.canWrite ? this.endpoints.load() : null]);
  }

  async loadRows() {
    const subs = await this.list.load();
    if (!subs) return;
    const keys = subs.map((s) => encodeURIComponent(s.sub_key)).join(",");
    const figures = subs.length ? await get(`/overview/subscriptions?sub_keys=${keys}`) : [];
    if (subs === this.list.rows) this.figures = new Map(figures.map((f) => [f.sub_key, f]));
  }

  create(form) {
    this.act(async () => {
      const sub = await post("/subscriptions", readForm(form));
      this.notice = `Subscribed ${sub.endpoint} to ${sub.topic_name}: ${sub.sub_key} on node ${sub.node}.`;
    });
  }

  edit(form) {
    const s = this.editing;
    this.act(async () => {
      await patch(`/subscriptions/${seg(s.sub_key)}`, readForm(form));
      this.editing = null;
    }, { notice: `Subscription ${s.sub_key} saved.` });
  }

  remove(s) {
    if (!confirm(`Delete subscription ${s.sub_key} and its queue?`)) return;
    this.act(() => del(`/subscriptions/${seg(s.sub_key)}`), { notice: `Subscription ${s.sub_key} deleted.` });
  }

  chooseEndpoint(name) {
    this.pushType = this.endpoints.find(name)?.endpoint_type ?? "rest";
    this.update();
  }

  view() {
    return html`
      <h2>Subscriptions</h2>
      ${this.status()}
      ${this.canWrite ? this.createForm() : nothing}
      ${this.editing ? this.editForm(this.editing) : nothing}
      ${this.list.controls()}
      <table>
        <caption>Figures as the delivering node sampled them a few seconds ago; rates per second.</caption>
        <thead><tr>
          <th scope="col">Sub key</th><th scope="col">Topic</th><th scope="col">Endpoint</th>
          <th scope="col">Delivery</th><th scope="col">Node</th><th scope="col">Ready GD / RAM</th>
          <th scope="col">In flight</th><th scope="col">Dead letters</th><th scope="col">Delivered / acked</th>
          <th scope="col">Oldest message</th><th scope="col">Actions</th>
        </tr></thead>
        <tbody>
          ${this.list.rows.length === 0 ? html`<tr><td colspan="11" class="muted">${this.list.empty("No subscriptions yet.")}</td></tr>` : nothing}
          ${this.list.rows.map((s) => this.row(s))}
        </tbody>
      </table>`;
  }

  row(s) {
    const f = this.figures.get(s.sub_key);
    return html`<tr data-sub-key=${s.sub_key}>
      <th scope="row"><code title="created ${shortTime(s.creation_time)}">${s.sub_key}</code>${s.is_wsx ? html` <span class="tag">WSX</span>` : nothing}</th>
      <td data-field="topic">${s.topic_name}</td>
      <td data-field="endpoint">${s.endpoint}</td>
      <td data-field="delivery">${s.delivery_method}, ack ${s.ack_mode}
        ${s.active_status === "pub-sub" ? nothing : html`<br><span class="tag">${s.active_status}</span>`}
        ${s.push ? html`<br><code class="small">${JSON.stringify(s.push)}</code>` : nothing}</td>
      <td data-field="node">${opt(s.node)}</td>
      <td class="num" data-field="ready">${f ? html`${count(f.ready_gd)} / ${count(f.ready_ram)}` : opt(null)}</td>
      <td class="num" data-field="in-flight">${count(f?.in_flight)}</td>
      <td class="num" data-field="dead-letters">${count(f?.dead_letters)}</td>
      <td class="num" data-field="rates">${f ? html`${perSecond(f.deliver_rate)} / ${perSecond(f.ack_rate)}` : opt(null)}</td>
      <td class="num" data-field="oldest">${age(f?.oldest_age)}</td>
      <td class="actions">
        <a class="button" href="#/queue/${seg(s.sub_key)}">Queue</a>
        <a class="button" href="#/actors/delivery:${seg(s.sub_key)}">Delivery actor</a>
        ${this.canWrite
          ? html`<button type="button" @click=${() => { this.editing = s; this.update(); }}>Edit</button>
              <button type="button" class="danger" @click=${() => this.remove(s)}>Delete</button>`
          : nothing}
      </td>
    </tr>`;
  }

  createForm() {
    return html`<details class="panel">
      <summary>Create a subscription</summary>
      <form name="create-subscription" @submit=${onSubmit((f) => this.create(f))}>
        ${this.topics.view()}
        ${this.endpoints.view("", (name) => this.chooseEndpoint(name))}
        ${optionFields({})}
        <label class="wide">Push target (JSON, for notify)
          <textarea name="push" data-kind="json" rows="2" placeholder=${PUSH_EXAMPLES[this.pushType] ?? ""}></textarea></label>
        <button type="submit">Subscribe</button>
      </form>
    </details>`;
  }

  editForm(s) {
    return html`<section class="panel" aria-label="Edit subscription ${s.sub_key}">
      <h3>Edit subscription ${s.sub_key} (${s.endpoint} → ${s.topic_name})</h3>
      <form name="edit-subscription" @submit=${onSubmit((f) => this.edit(f))}>
        ${optionFields(s)}
        <label class="wide">New push target (JSON; empty keeps the current one)
          <textarea name="push" data-kind="json" rows="2" placeholder=${s.push ? JSON.stringify(s.push) : ""}></textarea></label>
        <button type="submit">Save</button>
        <button type="button" class="secondary" @click=${() => { this.editing = null; this.update(); }}>Cancel</button>
      </form>
    </section>`;
  }
}

/** The subscription options of INTERFACES §8.1, filled from `s`; empty numbers keep defaults. */
function optionFields(s) {
  const num = (name, label, placeholder, step = "1") => html`<label>${label}
    <input name=${name} type="number" min="0" step=${step} data-kind="number" placeholder=${placeholder}
      .value=${s[name] ?? ""}></label>`;
  return html`
    <label>Delivery method <select name="delivery_method">${options(["pull", "notify"], s.delivery_method ?? "pull")}</select></label>
    <label>Ack mode <select name="ack_mode">${options(["auto", "explicit"], s.ack_mode ?? "auto")}</select></label>
    <label>Active status
      <select name="active_status">${options(["pub-sub", "pub-only", "sub-only", "disabled"], s.active_status ?? "pub-sub")}</select></label>
    ${num("ack_timeout", "Ack timeout (s)", "30", "any")}
    ${num("delivery_batch_size", "Batch size", "500")}
    ${num("delivery_max_retry", "Max delivery attempts", "123456789")}
    ${num("max_in_flight", "Max batches in flight", "1")}
    ${num("wait_sock_err", "Wait after socket error (s)", "10", "any")}
    ${num("wait_non_sock_err", "Wait after other error (s)", "3", "any")}
    <label class="check"><input type="checkbox" name="wrap_one_msg_in_list" ?checked=${s.wrap_one_msg_in_list ?? true}
      .checked=${s.wrap_one_msg_in_list ?? true}> Wrap one message in a list</label>
    <label class="check"><input type="checkbox" name="delivery_err_should_block" ?checked=${s.delivery_err_should_block ?? true}
      .checked=${s.delivery_err_should_block ?? true}> A delivery error blocks the queue</label>`;
}
