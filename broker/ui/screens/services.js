// Services: the built-in ones and the user-defined `http` and `publish` services, the list
// searched (name or kind) and paged by the server; create, delete, and invoke any of them with a
// JSON request on this node.

import { post, del, seg } from "../api.js";
import { Screen, html, nothing, onSubmit, readForm, time, opt, options, jsonBlock } from "../view.js";
import { ListPage, NameField } from "../list.js";

export class ServicesScreen extends Screen {
  list = new ListPage(this, { noun: "Services", path: "/services", search: "name or kind" });
  /** The invoke form's choice of a service, and the create form's of a topic and an endpoint. */
  services = new NameField(this, { path: "/services", name: "service", label: "Service" });
  topics = new NameField(this, { path: "/topics", name: "topic_name", label: "Topic" });
  endpoints = new NameField(this, {
    path: "/endpoints",
    name: "endpoint",
    label: "As endpoint",
    keep: (e) => e.role !== "sub-only",
  });
  kind = "http";
  /** `{service, reply}` of the last invocation. */
  reply = null;

  async load() {
    const forms = this.canWrite ? [this.services, this.topics, this.endpoints].map((f) => f.load()) : [];
    await Promise.all([this.list.load(), ...forms]);
  }

  create(form) {
    this.act(async () => {
      const created = await post("/services", readForm(form));
      form.reset();
      this.notice = `Service ${created.name} created.`;
    });
  }

  remove(s) {
    if (!confirm(`Delete service ${s.name}?`)) return;
    this.act(() => del(`/services/${seg(s.name)}`), { notice: `Service ${s.name} deleted.` });
  }

  invoke(form) {
    this.act(async () => {
      const { service, request } = readForm(form);
      const reply = await post(`/services/${seg(service)}/invoke`, request ?? null);
      this.reply = { service, reply };
    }, { reload: false });
  }

  view() {
    return html`
      <h2>Services</h2>
      ${this.status()}
      ${this.canWrite ? this.invokeForm() : nothing}
      ${this.reply ? html`<section role="status" aria-label="Reply"><h3>Reply of ${this.reply.service}</h3>${jsonBlock(this.reply.reply)}</section>` : nothing}
      ${this.canWrite ? this.createForm() : nothing}
      ${this.list.controls()}
      <table>
        <thead><tr>
          <th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Settings</th>
          <th scope="col">Created</th>${this.canWrite ? html`<th scope="col">Actions</th>` : nothing}
        </tr></thead>
        <tbody>
          ${this.list.rows.length === 0
            ? html`<tr><td colspan=${this.canWrite ? 5 : 4} class="muted">${this.list.empty("No services.")}</td></tr>`
            : nothing}
          ${this.list.rows.map(
            (s) => html`<tr>
              <th scope="row">${s.name}</th><td>${s.kind}</td>
              <td>${s.kind === "builtin" ? html`<span class="muted">built in</span>` : html`<code class="small">${JSON.stringify(settings(s))}</code>`}</td>
              <td>${s.created_at ? time(s.created_at) : opt(null)}</td>
              ${this.canWrite
                ? html`<td class="actions">${s.kind === "builtin" ? nothing : html`<button type="button" class="danger" @click=${() => this.remove(s)}>Delete</button>`}</td>`
                : nothing}
            </tr>`,
          )}
        </tbody>
      </table>`;
  }

  invokeForm() {
    return html`<section class="panel" aria-label="Invoke a service">
      <h3>Invoke a service</h3>
      <form name="invoke-service" @submit=${onSubmit((f) => this.invoke(f))}>
        ${this.services.view()}
        <label class="wide">Request (JSON) <textarea name="request" data-kind="json" rows="3">{}</textarea></label>
        <button type="submit">Invoke</button>
      </form>
    </section>`;
  }

  createForm() {
    const http = this.kind === "http";
    return html`<details class="panel">
      <summary>Create a service</summary>
      <form name="create-service" @submit=${onSubmit((f) => this.create(f))}>
        <label>Name <input name="name" required maxlength="200"></label>
        <label>Kind <select name="kind" @change=${(e) => { this.kind = e.target.value; this.update(); }}>
          ${options([["http", "http (call a URL)"], ["publish", "publish (to a topic)"]], this.kind)}</select></label>
        ${http
          ? html`<label>URL <input name="url" required placeholder="http://127.0.0.1:8080/hook"></label>
              <label>Timeout (s) <input name="timeout" type="number" step="any" data-kind="number" placeholder="5"></label>
              <label class="wide">Auth (JSON, optional) <textarea name="auth" data-kind="json" rows="1"
                placeholder='{"username": "…", "password": "…"}'></textarea></label>`
          : html`${this.topics.view()} ${this.endpoints.view()}`}
        <button type="submit">Create service</button>
      </form>
    </details>`;
  }
}

function settings(s) {
  const { name, kind, created_at, ...rest } = s;
  return rest;
}
