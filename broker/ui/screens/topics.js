// Topics: the list — searched by name, filtered by state (active or not) and delivery (GD or
// in-RAM), and paged by the server — with depths, rates, in-flight
// messages, dead letters, the oldest message's age and the last publication; create, edit,
// clear and delete (typing the name to confirm); publish a message as an endpoint; the messages
// a topic retains.

import { get, patch, post, del } from "../api.js";
import {
  Screen, html, nothing, onSubmit, readForm, time, opt, options, prefix, dataText, perSecond, count, age, confirmTyped,
} from "../view.js";
import { ListPage, NameField } from "../list.js";

export class TopicsScreen extends Screen {
  list = new ListPage(this, {
    noun: "Topics",
    path: "/topics",
    filters: [
      { name: "active", label: "State", choices: [["", "all"], ["true", "active"], ["false", "inactive"]] },
      { name: "has_gd", label: "Delivery", choices: [["", "all"], ["true", "GD"], ["false", "in-RAM"]] },
    ],
  });
  /** The open panel: `{kind: "edit" | "publish" | "messages", topic, …}`, or null. */
  panel = null;
  /** The endpoints that may publish, for the publish panel. */
  publishers = new NameField(this, {
    path: "/endpoints",
    name: "endpoint",
    label: "As endpoint",
    keep: (e) => e.role !== "sub-only",
    none: "(no endpoint may publish)",
  });

  /** Figures by topic id (`GET /overview/topics`), of the topics shown. */
  figures = new Map();

  async load() {
    await this.loadRows();
  }

  async loadRows() {
    const topics = await this.list.load();
    if (!topics) return;
    const ids = topics.map((t) => t.id).join(",");
    const figures = ids ? await get(`/overview/topics?ids=${ids}`) : [];
    if (topics === this.list.rows) this.figures = new Map(figures.map((f) => [f.id, f]));
    if (this.panel) {
      // A topic of the panel that is not on this page stays as it was.
      const fresh = topics.find((t) => t.id === this.panel.topic.id);
      if (fresh) this.panel.topic = fresh;
    }
  }

  open(kind, topic) {
    this.act(
      async () => {
        this.panel = { kind, topic };
        if (kind === "publish") await this.publishers.load();
        if (kind === "messages") this.panel.messages = await get(`/topics/${topic.id}/messages?limit=100`);
      },
      { reload: false },
    );
  }

  create(form) {
    this.act(async () => {
      const topic = await post("/topics", readForm(form));
      form.reset();
      this.notice = `Topic ${topic.name} created.`;
    });
  }

  edit(form) {
    const { topic } = this.panel;
    this.act(async () => {
      await patch(`/topics/${topic.id}`, readForm(form));
      this.panel = null;
    }, { notice: `Topic ${topic.name} saved.` });
  }

  publish(form) {
    const { topic } = this.panel;
    this.act(async () => {
      const answer = await post(`/topics/${topic.id}/publish`, readForm(form));
      this.notice = answer.overflow
        ? `Published ${answer.msg_id} to the overflow log (topic over its in-RAM depth).`
        : `Published ${answer.msg_id ?? answer.msg_id_list?.join(", ")} to ${topic.name}.`;
      form.elements.data.value = "";
    });
  }

  async clear(topic) {
    const sure = await confirmTyped({
      title: `Clear topic ${topic.name}`,
      text: "Every message of the topic is deleted, GD and in-RAM, from every queue. This cannot be undone.",
      name: topic.name,
      action: "Delete every message",
    });
    if (!sure) return;
    this.act(async () => {
      const { cleared } = await post(`/topics/${topic.id}/clear`);
      this.notice = `Topic ${topic.name}: ${cleared} messages deleted.`;
    });
  }

  async remove(topic) {
    const sure = await confirmTyped({
      title: `Delete topic ${topic.name}`,
      text: "The topic goes with its subscriptions and every message they hold. This cannot be undone.",
      name: topic.name,
      action: "Delete topic",
    });
    if (!sure) return;
    this.act(async () => {
      await del(`/topics/${topic.id}`);
      if (this.panel?.topic.id === topic.id) this.panel = null;
    }, { notice: `Topic ${topic.name} deleted.` });
  }

  view() {
    return html`
      <h2>Topics</h2>
      ${this.status()}
      ${this.canWrite ? this.createForm() : nothing}
      ${this.panelView()}
      ${this.list.controls()}
      <table>
        <caption>In-RAM depths are those of node ${this.ctx.node}, the other figures the cluster's;
          rates per second over the last few seconds.</caption>
        <thead><tr>
          <th scope="col">Name</th><th scope="col">Depth GD / RAM</th><th scope="col">Subscriptions</th>
          <th scope="col">Published / delivered</th><th scope="col">In flight</th><th scope="col">Dead letters</th>
          <th scope="col">Oldest message</th><th scope="col">Last publication</th><th scope="col">Actions</th>
        </tr></thead>
        <tbody>
          ${this.list.rows.length === 0 ? html`<tr><td colspan="9" class="muted">${this.list.empty("No topics yet.")}</td></tr>` : nothing}
          ${this.list.rows.map((t) => this.row(t))}
        </tbody>
      </table>`;
  }

  row(t) {
    const f = this.figures.get(t.id);
    return html`<tr data-topic=${t.name}>
      <th scope="row">${t.name}
        ${t.is_active ? nothing : html`<span class="tag inactive">inactive</span>`}
        ${t.has_gd ? html`<span class="tag gd">GD</span>` : nothing}</th>
      <td class="num" data-field="depth">${opt(t.depth_gd)} / ${opt(t.depth_non_gd)}</td>
      <td class="num">${t.subscriptions}</td>
      <td class="num" data-field="rates">${f ? html`${perSecond(f.publish_rate)} / ${perSecond(f.deliver_rate)}` : opt(null)}</td>
      <td class="num" data-field="in-flight">${count(f?.in_flight)}</td>
      <td class="num" data-field="dead-letters">${count(f?.dead_letters)}</td>
      <td class="num" data-field="oldest">${age(f?.oldest_age)}</td>
      <td>${time(t.last_pub_time)}
        ${t.last_pub_msg_id ? html`<br><a href="#/message/${encodeURIComponent(t.last_pub_msg_id)}"><code>${t.last_pub_msg_id}</code></a>` : nothing}
        ${t.last_pub_endpoint ? html`<br><span class="muted">by ${t.last_pub_endpoint}</span>` : nothing}</td>
      <td class="actions">
        <button type="button" @click=${() => this.open("messages", t)}>Messages</button>
        ${this.canWrite
          ? html`<button type="button" @click=${() => this.open("publish", t)}>Publish</button>
              <button type="button" @click=${() => this.open("edit", t)}>Edit</button>
              <button type="button" class="danger" @click=${() => this.clear(t)}>Clear</button>
              <button type="button" class="danger" @click=${() => this.remove(t)}>Delete</button>`
          : nothing}
      </td>
    </tr>`;
  }

  createForm() {
    return html`<details class="panel">
      <summary>Create a topic</summary>
      <form name="create-topic" @submit=${onSubmit((f) => this.create(f))}>
        <label>Name <input name="name" required maxlength="200" placeholder="/customer/new"></label>
        ${topicFields({ is_active: true, is_api_sub_allowed: true })}
        <button type="submit">Create topic</button>
      </form>
    </details>`;
  }

  panelView() {
    const p = this.panel;
    if (!p) return nothing;
    const close = html`<button type="button" class="secondary" @click=${() => { this.panel = null; this.update(); }}>Close</button>`;
    if (p.kind === "edit") {
      return html`<section class="panel" aria-label="Edit topic ${p.topic.name}">
        <h3>Edit topic ${p.topic.name}</h3>
        <form name="edit-topic" @submit=${onSubmit((f) => this.edit(f))}>
          <label>Name <input name="name" required maxlength="200" .value=${p.topic.name}></label>
          ${topicFields(p.topic)}
          <button type="submit">Save</button> ${close}
        </form>
      </section>`;
    }
    if (p.kind === "publish") return this.publishPanel(p, close);
    return html`<section class="panel" aria-label="Messages of ${p.topic.name}">
      <h3>Messages retained by ${p.topic.name}</h3>
      <p class="hint">Messages published while the topic had no subscription, kept for its first subscriber.
        Queued messages are browsed per subscription.</p>
      ${messageTable(p.messages ?? [])} ${close}
    </section>`;
  }

  publishPanel(p, close) {
    return html`<section class="panel" aria-label="Publish to ${p.topic.name}">
      <h3>Publish to ${p.topic.name}</h3>
      <form name="publish" @submit=${onSubmit((f) => this.publish(f))}>
        ${this.publishers.view()}
        <label class="wide">Data (JSON, or plain text)
          <textarea name="data" data-kind="json-or-text" rows="4" required></textarea></label>
        <label>Priority <input name="priority" type="number" min="1" max="9" data-kind="number" placeholder="5"></label>
        <label>Expiration (s) <input name="expiration" type="number" min="0" data-kind="number" placeholder="topic limit"></label>
        <label>Guaranteed delivery
          <select name="has_gd" data-kind="json">
            ${options([["", "topic default"], ["true", "yes"], ["false", "no"]], "")}
          </select></label>
        <label>Message id <input name="msg_id" maxlength="200" placeholder="generated"></label>
        <label>Correlation id <input name="correl_id"></label>
        <label>In reply to <input name="in_reply_to"></label>
        <label>External client id <input name="ext_client_id"></label>
        <button type="submit">Publish</button> ${close}
      </form>
    </section>`;
  }
}

/**
 * A checkbox whose default is `checked` as an attribute too, so that a form's reset (after a
 * create) puts it back as it was drawn rather than clearing it.
 */
const check = (name, label, checked) => html`<label class="check"><input type="checkbox" name=${name}
  ?checked=${checked} .checked=${checked}> ${label}</label>`;

/** The editable topic fields (INTERFACES §8.1), filled from `t`; empty numbers keep defaults. */
function topicFields(t) {
  const num = (name, label, min, placeholder) => html`<label>${label}
    <input name=${name} type="number" min=${min} data-kind="number" placeholder=${placeholder} .value=${t[name] ?? ""}></label>`;
  return html`
    ${check("is_active", "Active", t.is_active ?? true)}
    ${check("has_gd", "Guaranteed delivery (GD)", t.has_gd ?? false)}
    ${check("is_api_sub_allowed", "API subscriptions allowed", t.is_api_sub_allowed ?? true)}
    ${num("max_depth_gd", "Max GD depth", 1, "10000")}
    ${num("max_depth_non_gd", "Max in-RAM depth", 1, "1000")}
    <label>In-RAM overflow
      <select name="on_overflow_non_gd">${options(["log", "reject"], t.on_overflow_non_gd ?? "log")}</select></label>
    <label>Publication without subscribers
      <select name="on_no_subs_pub">${options(["accept", "drop"], t.on_no_subs_pub ?? "accept")}</select></label>
    ${num("limit_message_expiry", "Message expiry limit (s)", 1, "86400")}
    ${num("limit_sub_inactivity", "Subscription inactivity limit (s, 0 = never)", 0, "0")}
    ${num("dedup_window", "Deduplication window (s)", 0, "120")}`;
}

/** Messages in a table, each linked to its details page. */
export function messageTable(messages) {
  return html`<table class="messages">
    <thead><tr>
      <th scope="col">Message id</th><th scope="col">Priority</th><th scope="col">Data</th>
      <th scope="col">Published</th><th scope="col">Expires</th>
    </tr></thead>
    <tbody>
      ${messages.length === 0 ? html`<tr><td colspan="5" class="muted">No messages.</td></tr>` : nothing}
      ${messages.map(
        (m) => html`<tr>
          <td><a href="#/message/${encodeURIComponent(m.msg_id)}"><code>${m.msg_id}</code></a></td>
          <td class="num">${m.priority}</td>
          <td class="data">${prefix(dataText(m.data))}</td>
          <td>${time(m.pub_time_iso)}</td>
          <td>${time(m.expiration_time_iso)}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}
