// Services: the built-in ones and the user-defined `http` and `publish` services; create,
// delete, and invoke any of them with a JSON request on this node.

import { get, post, del, seg } from "../api.js";
import { Screen, html, nothing, onSubmit, readForm, time, opt, options, jsonBlock } from "../view.js";

export class ServicesScreen extends Screen {
  services = [];
  topics = [];
  endpoints = [];
  kind = "http";
  /** `{service, reply}` of the last invocation. */
  reply = null;

  async load() {
    const [services, topics, endpoints] = await Promise.all([get("/services"), get("/topics"), get("/endpoints")]);
    this.services = services;
    this.topics = topics;
    this.endpoints = endpoints.filter((e) => e.role !== "sub-only");
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
      <table>
        <thead><tr>
          <th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Settings</th>
          <th scope="col">Created</th>${this.canWrite ? html`<th scope="col">Actions</th>` : nothing}
        </tr></thead>
        <tbody>
          ${this.services.map(
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
        <label>Service <select name="service" required>${options(this.services.map((s) => s.name))}</select></label>
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
          : html`<label>Topic <select name="topic_name" required>${options(this.topics.map((t) => t.name))}</select></label>
              <label>As endpoint <select name="endpoint" required>${options(this.endpoints.map((e) => e.name))}</select></label>`}
        <button type="submit">Create service</button>
      </form>
    </details>`;
  }
}

function settings(s) {
  const { name, kind, created_at, ...rest } = s;
  return rest;
}
