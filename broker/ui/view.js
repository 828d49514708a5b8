// What every screen shares: the Screen base (state, re-render, actions whose errors are shown),
// the error and notice boxes, form reading, and value formatting.

import { html, nothing, render } from "./vendor/lit-html.js";
import { ApiError } from "./api.js";

/**
 * A screen owns its state and draws it with `view()`. `act(fn)` runs a user action: whatever
 * the API answers as an error is kept in `this.error` and shown at the top of the screen,
 * exactly as the server worded it.
 */
export class Screen {
  constructor(ctx) {
    /** `{params, query, canWrite, node, render}` from app.js: hash parameters, the hash's
     * query (URLSearchParams: what a list shows), whether the key may change anything, the
     * node's name, and the shell's draw function. */
    this.ctx = ctx;
    this.error = null;
    this.notice = null;
    /** An action is under way (the shell marks the page `aria-busy`). */
    this.busy = false;
    /** Timers of `every()`, cleared when the user leaves the screen. */
    this.timers = [];
  }

  /** Runs `fn` every `ms` milliseconds while the screen is shown. */
  every(ms, fn) {
    if (!this.stopped) this.timers.push(setInterval(fn, ms));
  }

  /** The user left the screen (app.js calls this before starting the next one). */
  stop() {
    this.stopped = true;
    this.timers.forEach(clearInterval);
    this.timers = [];
  }

  get canWrite() {
    return this.ctx.canWrite;
  }

  /** Loads what the screen shows; screens override it. */
  async load() {}

  async start() {
    await this.act(() => this.load(), { reload: false });
  }

  update() {
    this.ctx.render(this);
  }

  /**
   * Runs `fn`, then reloads (unless `reload` is false) and re-renders; errors are kept for
   * display. `browsing` marks a search or a page turned, which changes nothing on the node (a
   * screen keeps what an action that changes something would drop).
   */
  async act(fn, { notice = null, reload = true } = {}) {
    this.error = null;
    this.notice = null;
    this.busy = true;
    this.update();
    try {
      await fn();
      this.notice = notice ?? this.notice; // fn may have set a notice of its own
      if (reload) await this.load();
    } catch (e) {
      this.error = e;
    }
    this.busy = false;
    this.update();
  }

  /** The error and notice boxes; every screen puts this first. */
  status() {
    return html`${errorBox(this.error)}${this.notice
      ? html`<p class="notice" role="status">${this.notice}</p>`
      : nothing}`;
  }
}

/** An API error as the server gave it: status, `details`, and the `cid` to find it in the log. */
export function errorBox(error) {
  if (!error) return nothing;
  if (error instanceof ApiError) {
    return html`<div class="error" role="alert">
      <strong>Error ${error.status || ""}</strong>
      <span class="details">${error.details}</span>
      ${error.cid ? html`<small>cid ${error.cid}</small>` : nothing}
    </div>`;
  }
  return html`<div class="error" role="alert"><strong>Error</strong>
    <span class="details">${error.message ?? String(error)}</span></div>`;
}

/**
 * The named fields of a form as an API body. Empty fields are left out so the server's
 * defaults apply. `data-kind` on a field says how to read it: `number`, `json`, `json-or-text`
 * (JSON when it parses, else the text itself), `lines` (one list item a line); checkboxes are
 * booleans.
 */
export function readForm(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "checkbox") {
      out[el.name] = el.checked;
      continue;
    }
    const raw = el.value;
    const kind = el.dataset.kind;
    if (raw.trim() === "" && el.dataset.keepEmpty === undefined) continue;
    if (kind === "number") {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new Error(`${labelOf(el)}: \`${raw}\` is not a number`);
      out[el.name] = n;
    } else if (kind === "json") {
      try {
        out[el.name] = JSON.parse(raw);
      } catch (e) {
        throw new Error(`${labelOf(el)}: not valid JSON (${e.message})`);
      }
    } else if (kind === "json-or-text") {
      try {
        out[el.name] = JSON.parse(raw);
      } catch {
        out[el.name] = raw;
      }
    } else if (kind === "lines") {
      out[el.name] = raw.split("\n").map((l) => l.trim()).filter((l) => l);
    } else {
      out[el.name] = raw;
    }
  }
  return out;
}

function labelOf(el) {
  return el.closest("label")?.firstChild?.textContent?.trim() || el.name;
}

/** A submit handler that reads the form and hands its body to `fn`. */
export const onSubmit = (fn) => (event) => {
  event.preventDefault();
  fn(event.target);
};

/** ISO time (UTC) shortened for tables, its zone said; the full value stays in the title. */
export function time(iso) {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime=${iso} title=${iso}>${shortTime(iso)}</time>`;
}

/** `2026-01-02 03:04:05 UTC` from an ISO time in UTC. */
export function shortTime(iso) {
  return `${iso.replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, "")} UTC`;
}

/** A rate per second, with one decimal below 10. */
export function perSecond(rate) {
  if (rate === null || rate === undefined) return html`<span class="muted">—</span>`;
  const n = Number(rate);
  return `${n < 10 && n !== 0 ? n.toFixed(1) : Math.round(n).toLocaleString("en")}/s`;
}

/** A whole number with thousands separated. */
export function count(n) {
  if (n === null || n === undefined) return html`<span class="muted">—</span>`;
  return Number(n).toLocaleString("en");
}

/** A duration in seconds, in the largest unit that fits (`42 s`, `5 min`, `3 h`, `2 d`). */
export function age(seconds) {
  if (seconds === null || seconds === undefined) return html`<span class="muted">—</span>`;
  const s = Math.max(0, Number(seconds));
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/**
 * Asks the user to type `name` before a change that cannot be undone; answers whether they did
 * and confirmed. A modal dialog of the page (not `confirm()`), so the name can be typed.
 */
export function confirmTyped({ title, text, name, action }) {
  return new Promise((resolve) => {
    const host = document.createElement("div");
    document.body.append(host);
    const done = (ok) => {
      dialog.close();
      host.remove();
      resolve(ok);
    };
    const matches = () => host.querySelector("input[name=confirm-name]").value === name;
    const typed = () => {
      host.querySelector("button[value=confirm]").disabled = !matches();
    };
    render(
      html`<dialog class="confirm" aria-labelledby="confirm-title" @cancel=${(e) => { e.preventDefault(); done(false); }}>
        <form method="dialog" @submit=${(e) => { e.preventDefault(); if (matches()) done(true); }}>
          <h3 id="confirm-title">${title}</h3>
          <p>${text}</p>
          <label><span>Type <code>${name}</code> to confirm</span>
            <input name="confirm-name" autocomplete="off" spellcheck="false" @input=${typed}></label>
          <div class="buttons">
            <button type="submit" class="danger" value="confirm" disabled>${action}</button>
            <button type="button" class="secondary" value="cancel" @click=${() => done(false)}>Cancel</button>
          </div>
        </form>
      </dialog>`,
      host,
    );
    const dialog = host.querySelector("dialog");
    dialog.showModal();
    host.querySelector("input[name=confirm-name]").focus();
  });
}

/** Message data as text: strings as they are, anything else as JSON. */
export function dataText(data, indent) {
  return typeof data === "string" ? data : JSON.stringify(data, null, indent);
}

/** At most `max` characters of a value, for table cells. */
export function prefix(text, max = 80) {
  const s = String(text ?? "");
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

export const yesNo = (v) => (v ? "yes" : "no");

/** A value or a dash. */
export const opt = (v) => (v === null || v === undefined || v === "" ? html`<span class="muted">—</span>` : v);

/** A `<select>`'s options, with `current` selected. */
export function options(values, current) {
  return values.map((v) => {
    const [value, text] = Array.isArray(v) ? v : [v, v];
    return html`<option value=${value} ?selected=${value === current}>${text}</option>`;
  });
}

/** A JSON value pretty-printed in a block. */
export const jsonBlock = (value) => html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;

export { html, nothing };
