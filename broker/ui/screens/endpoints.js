// Endpoints: who may publish and subscribe (role and `pub=`/`sub=` patterns), and their
// credentials; the list searched (name or username), filtered by role and type and paged by the
// server. A new password or API key is shown once, right after it was made, and never again.

import { patch, post, del } from "../api.js";
import { Screen, html, nothing, onSubmit, readForm, time, opt, options } from "../view.js";
import { ListPage } from "../list.js";

const ROLES = ["pub-sub", "pub-only", "sub-only"];
const TYPES = ["rest", "soap", "wsx", "srv", "amqp", "files"];
const AUTH = [["basic", "basic (username and password)"], ["api_key", "API key"], ["none", "none (push only)"]];

export class EndpointsScreen extends Screen {
  list = new ListPage(this, {
    noun: "Endpoints",
    path: "/endpoints",
    search: "name or username",
    filters: [
      { name: "role", label: "Role", choices: [["", "all"], ...ROLES] },
      { name: "endpoint_type", label: "Type", choices: [["", "all"], ...TYPES] },
    ],
  });
  editing = null;
  /** `{endpoint, field, secret}` just made; dropped on the next action. */
  reveal = null;

  async load() {
    await this.list.load();
  }

  async act(fn, opts) {
    // A secret shown once stays while the user only searches or pages the list.
    if (!opts?.browsing) this.reveal = null;
    await super.act(fn, opts);
  }

  showSecret(answer) {
    const field = answer.password ? "password" : answer.api_key ? "api_key" : null;
    if (field) this.reveal = { endpoint: answer.name, field, secret: answer[field] };
  }

  /** Copies a revealed secret; a browser that refuses (no clipboard access) says why. */
  async copy(secret) {
    try {
      await navigator.clipboard.writeText(secret);
      this.notice = "Copied to the clipboard.";
    } catch (e) {
      this.error = new Error(`the browser did not copy it: ${e.message}`);
    }
    this.update();
  }

  create(form) {
    this.act(async () => {
      const answer = await post("/endpoints", readForm(form));
      form.reset();
      this.notice = `Endpoint ${answer.name} created.`;
      this.showSecret(answer);
    });
  }

  edit(form) {
    const e = this.editing;
    this.act(async () => {
      await patch(`/endpoints/${e.id}`, readForm(form));
      this.editing = null;
    }, { notice: `Endpoint ${e.name} saved.` });
  }

  rotate(e) {
    if (!confirm(`Replace the credentials of ${e.name}? The current ones stop working at once.`)) return;
    this.act(async () => {
      const answer = await post(`/endpoints/${e.id}/credentials`);
      this.notice = `New credentials for ${e.name}.`;
      this.showSecret(answer);
    });
  }

  remove(e) {
    if (!confirm(`Delete endpoint ${e.name} with its subscriptions?`)) return;
    this.act(() => del(`/endpoints/${e.id}`), { notice: `Endpoint ${e.name} deleted.` });
  }

  view() {
    return html`
      <h2>Endpoints</h2>
      ${this.status()}
      ${this.revealView()}
      ${this.canWrite ? this.createForm() : nothing}
      ${this.editing ? this.editForm(this.editing) : nothing}
      ${this.list.controls()}
      <table>
        <thead><tr>
          <th scope="col">Name</th><th scope="col">Role</th><th scope="col">Type</th><th scope="col">Auth</th>
          <th scope="col">Username</th><th scope="col">Topic patterns</th><th scope="col">WSX channel</th>
          <th scope="col">Last seen</th><th scope="col">Actions</th>
        </tr></thead>
        <tbody>
          ${this.list.rows.length === 0 ? html`<tr><td colspan="9" class="muted">${this.list.empty("No endpoints yet.")}</td></tr>` : nothing}
          ${this.list.rows.map(
            (e) => html`<tr data-endpoint=${e.name}>
              <th scope="row">${e.name}</th>
              <td>${e.role}</td><td>${e.endpoint_type}</td><td>${e.auth}</td><td>${opt(e.username)}</td>
              <td>${e.topic_patterns.length ? html`<ul class="plain">${e.topic_patterns.map((p) => html`<li><code>${p}</code></li>`)}</ul>` : html`<span class="muted">none</span>`}</td>
              <td>${opt(e.wsx_channel)}</td>
              <td>${time(e.last_seen)}</td>
              <td class="actions">${this.canWrite
                ? html`<button type="button" @click=${() => { this.editing = e; this.reveal = null; this.update(); }}>Edit</button>
                    ${e.auth === "none" ? nothing : html`<button type="button" @click=${() => this.rotate(e)}>Rotate credentials</button>`}
                    <button type="button" class="danger" @click=${() => this.remove(e)}>Delete</button>`
                : nothing}</td>
            </tr>`,
          )}
        </tbody>
      </table>`;
  }

  revealView() {
    const r = this.reveal;
    if (!r) return nothing;
    const label = r.field === "password" ? "Password" : "API key";
    return html`<section class="reveal" aria-label="New credentials" role="status">
      <h3>${label} of ${r.endpoint} — shown once</h3>
      <p>Copy it now: the node keeps only a hash and cannot show it again.</p>
      <output name="secret"><code>${r.secret}</code></output>
      <button type="button" @click=${() => this.copy(r.secret)}>Copy</button>
      <button type="button" class="secondary" @click=${() => { this.reveal = null; this.update(); }}>I have kept it</button>
    </section>`;
  }

  createForm() {
    return html`<details class="panel">
      <summary>Create an endpoint</summary>
      <form name="create-endpoint" @submit=${onSubmit((f) => this.create(f))}>
        <label>Name <input name="name" required maxlength="200"></label>
        <label>Role <select name="role" required>${options(ROLES, "pub-sub")}</select></label>
        <label>Type <select name="endpoint_type">${options(TYPES, "rest")}</select></label>
        <label>Authentication <select name="auth">${options(AUTH, "basic")}</select></label>
        <label>Username <input name="username" placeholder="the name"></label>
        <label>WSX channel <input name="wsx_channel" placeholder="for wsx endpoints"></label>
        <label class="wide">Topic patterns, one a line
          <textarea name="topic_patterns" data-kind="lines" rows="3" placeholder="pub=/customer/**&#10;sub=/customer/*"></textarea></label>
        <button type="submit">Create endpoint</button>
      </form>
    </details>`;
  }

  editForm(e) {
    return html`<section class="panel" aria-label="Edit endpoint ${e.name}">
      <h3>Edit endpoint ${e.name}</h3>
      <form name="edit-endpoint" @submit=${onSubmit((f) => this.edit(f))}>
        <label>Name <input name="name" required .value=${e.name}></label>
        <label>Role <select name="role">${options(ROLES, e.role)}</select></label>
        <label>Type <select name="endpoint_type">${options(TYPES, e.endpoint_type)}</select></label>
        ${e.auth === "basic" ? html`<label>Username <input name="username" .value=${e.username ?? ""}></label>` : nothing}
        <label>WSX channel <input name="wsx_channel" .value=${e.wsx_channel ?? ""}></label>
        <label class="wide">Topic patterns, one a line
          <textarea name="topic_patterns" data-kind="lines" data-keep-empty rows="3" .value=${e.topic_patterns.join("\n")}></textarea></label>
        <button type="submit">Save</button>
        <button type="button" class="secondary" @click=${() => { this.editing = null; this.update(); }}>Cancel</button>
      </form>
    </section>`;
  }
}
