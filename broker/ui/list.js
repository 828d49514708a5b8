// Lists that scale. A list screen shows one page of its rows at a time: a search box that asks
// the server as the user types (`?q=`, once typing pauses), the filters its route takes, and
// the total the server counts in `X-Total-Count` ("Topics 1–50 of 10,000", Previous/Next page).
// What a list shows — search, filters, page — is kept in the query of the hash
// (`#/topics?q=orders&offset=50`), so a reload, or coming back with the browser's Back button,
// shows the same page. The page never asks for a whole list: a form's choice of a topic or an
// endpoint is a select only while the list is short, else a field suggesting names as they are
// typed.
//
// A list the API answers whole (connections) is searched and paged here, over what the page
// holds, with the same controls.

import { getPage } from "./api.js";
import { html, nothing, options } from "./view.js";

/** Rows on one page of a list. */
export const PAGE_SIZE = 50;
/** How long typing must pause before a search (or a name's suggestions) is asked for. */
export const SEARCH_DELAY_MS = 250;
/** A form offers a select of every name up to this many; past it, a field with suggestions. */
export const SHORT_LIST = 100;
/** Names a field suggests at once. */
const SUGGESTIONS = 20;

/** Whether `q` is found, in any case, in one of `fields` (as the server's `q=` finds it). */
export function holds(q, fields) {
  if (!q) return true;
  const wanted = q.toLowerCase();
  return fields.some((f) => f !== null && f !== undefined && String(f).toLowerCase().includes(wanted));
}

const format = (n) => Number(n).toLocaleString("en");

/** A noun within a sentence: "Topics" → "topics", "WSX sessions" as it is. */
const inSentence = (noun) => (/^[A-Z][a-z]/.test(noun) ? noun[0].toLowerCase() + noun.slice(1) : noun);

/**
 * Previous page, the range shown ("Topics 1–50 of 120") and Next page, for any paged list
 * (the queue browser's too). `shown` rows are on the page from `offset`; `total` is null when
 * the node did not count them; `go(offset)` turns the page.
 */
export function pagerParts({ noun, offset, limit, shown, total, go }) {
  const hasNext = total === null ? shown === limit : offset + shown < total;
  return html`<button type="button" ?disabled=${offset === 0}
      @click=${() => go(Math.max(0, offset - limit))}>Previous page</button>
    <span class="range" aria-live="polite">${rangeText(noun, offset, shown, total)}</span>
    <button type="button" ?disabled=${!hasNext} @click=${() => go(offset + limit)}>Next page</button>`;
}

function rangeText(noun, offset, shown, total) {
  const of = total === null ? "" : ` of ${format(total)}`;
  if (shown === 0) return offset === 0 ? `${noun}: none` : `No ${inSentence(noun)} past ${format(offset)}${of}`;
  return `${noun} ${format(offset + 1)}–${format(offset + shown)}${of}`;
}

/** Runs `fn` once calls to the answered function pause for `ms`. */
function debounced(fn, ms = SEARCH_DELAY_MS) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/**
 * One list of a screen: its search, filters and page, the rows of that page and the total.
 *
 * The screen calls `load()` from its own `load()` (it answers the rows, or null when a newer
 * search has answered meanwhile) and draws `controls()` above its table and `empty(text)` as the
 * table's row when there is none; a search, a filter or a page asks for `reload()`, which runs
 * the screen's `loadRows(list)` — the list's rows and what the screen shows of them (figures) —
 * or, when the screen has none, the list's own `load()`, as an action.
 */
export class ListPage {
  /**
   * @param screen the Screen showing the list.
   * @param noun what the rows are, plural and capitalised: "Topics".
   * @param path the list route (`/topics`), asked one page at a time; null for a list the page
   *   holds whole, given with `setAll(rows)` and searched in the strings `fields(row)` answers.
   * @param search what a search finds, for the box's placeholder ("name").
   * @param filters `{name, label, choices}` — a select of `[value, text]` (or a function answering
   *   them) — or `{name, field}`, a NameField; `name` is the route's query parameter.
   * @param key prefix of this list's hash parameters, when a screen shows two lists.
   * @param refresh whether the controls offer a Refresh button.
   * @param follows another list of the screen whose search box searches this one too.
   */
  constructor(
    screen,
    { noun, path = null, search = "name", filters = [], key = "", fields = null, refresh = false, follows = null },
  ) {
    this.screen = screen;
    this.noun = noun;
    this.path = path;
    this.search = search;
    this.filters = filters;
    this.key = key;
    this.fields = fields;
    this.refresh = refresh;
    this.follows = follows;
    /** Lists whose search is this one's. */
    this.followers = [];
    follows?.followers.push(this);
    const query = screen.ctx.query ?? new URLSearchParams();
    /** The search as typed. */
    this.q = follows ? follows.q : query.get(this.param("q")) ?? "";
    /** The search the rows shown answer (`q` runs ahead of it while the user types). */
    this.searched = this.q;
    /** Filter values by parameter name; "" is no filter. */
    this.values = Object.fromEntries(filters.map((f) => [f.name, query.get(this.param(f.name)) ?? ""]));
    /** Where the rows shown start. */
    this.offset = Math.max(0, Math.floor(Number(query.get(this.param("offset"))) || 0));
    /** Where the page asked for starts (the rows shown stay until it comes). */
    this.asked = this.offset;
    this.limit = PAGE_SIZE;
    /** The rows of the page shown. */
    this.rows = [];
    /** Rows matching the search and filters over every page; null when the node did not say. */
    this.total = null;
    /** Every row, for a list the page holds whole. */
    this.all = [];
    /** A page has been shown (before, the list says it is loading, not that it is empty). */
    this.loaded = false;
    /** Counts loads, so that the answer to an older search never replaces a newer one's. */
    this.loads = 0;
    this.fieldsLoaded = false;
    for (const f of filters) {
      if (f.field) f.field.change = (value) => this.setFilter(f.name, value);
    }
    this.typed = debounced(() => this.searchTyped());
  }

  param(name) {
    return `${this.key}${name}`;
  }

  /** Whether a search or a filter narrows the list. */
  get narrowed() {
    return this.q !== "" || Object.values(this.values).some((v) => v !== "");
  }

  /** The query to the list route for the page from `offset`. */
  apiQuery(offset) {
    const query = new URLSearchParams();
    if (this.q) query.set("q", this.q);
    for (const [name, value] of Object.entries(this.values)) if (value) query.set(name, value);
    query.set("limit", String(this.limit));
    query.set("offset", String(offset));
    return query;
  }

  /**
   * Loads the page (and, the first time, the names a filter offers); answers its rows, or null
   * when a newer load has been asked for meanwhile.
   */
  async load() {
    const mine = ++this.loads;
    const fieldsLoaded = this.fieldsLoaded
      ? null
      : Promise.all(this.filters.filter((f) => f.field).map((f) => f.field.load())).then(() => {
          this.fieldsLoaded = true;
        });
    if (!this.path) {
      await fieldsLoaded;
      this.slice();
      return this.rows;
    }
    const [{ page, offset }] = await Promise.all([this.fetchPage(), fieldsLoaded]);
    if (mine !== this.loads) return null;
    this.offset = offset;
    this.rows = page.rows;
    this.total = page.total;
    this.loaded = true;
    this.remember();
    return this.rows;
  }

  /** The page asked for: `{page, offset}`. */
  async fetchPage() {
    const offset = this.asked;
    const page = await getPage(`${this.path}?${this.apiQuery(offset)}`);
    if (page.rows.length > 0 || offset === 0 || !(page.total > 0)) return { page, offset };
    // Past the end (rows were deleted, or an old address): the last page instead.
    const last = this.lastPage(page.total);
    if (this.asked === offset) this.asked = last;
    return { page: await getPage(`${this.path}?${this.apiQuery(last)}`), offset: last };
  }

  /** Where the last page of `total` rows starts. */
  lastPage(total) {
    return total === 0 ? 0 : Math.floor((total - 1) / this.limit) * this.limit;
  }

  /** Gives a list the page holds whole its rows; the page shown is cut from them. */
  setAll(rows) {
    this.all = rows;
    this.slice();
  }

  slice() {
    const wanted = (r) =>
      holds(this.q, this.fields(r)) && Object.entries(this.values).every(([name, v]) => !v || String(r[name]) === v);
    const found = this.all.filter(wanted);
    if (this.asked > 0 && this.asked >= found.length) this.asked = this.lastPage(found.length);
    this.offset = this.asked;
    this.total = found.length;
    this.loaded = true;
    this.rows = found.slice(this.offset, this.offset + this.limit);
    this.remember();
  }

  /** Writes the list's search, filters and page into the hash, keeping its path and the other
   * lists' parameters, without a new history entry and without starting the screen anew. */
  remember() {
    if (this.screen.stopped) return;
    const [path, queryText = ""] = location.hash.split(/\?(.*)/s);
    const query = new URLSearchParams(queryText);
    const put = (name, value) => (value ? query.set(this.param(name), value) : query.delete(this.param(name)));
    put("q", this.follows ? "" : this.q);
    for (const [name, value] of Object.entries(this.values)) put(name, value);
    put("offset", this.offset > 0 ? String(this.offset) : "");
    const text = query.toString();
    const hash = text ? `${path || "#/"}?${text}` : path;
    if (hash !== location.hash) history.replaceState(history.state, "", hash || "#/");
  }

  /** Loads the rows again as a user action (errors shown, the page marked busy). */
  reload() {
    if (this.screen.stopped) return;
    const s = this.screen;
    s.act(() => (s.loadRows ? s.loadRows(this) : this.load()), { reload: false, browsing: true });
  }

  go(offset) {
    this.asked = Math.max(0, offset);
    if (this.path) this.reload();
    else {
      this.slice();
      this.screen.update();
    }
  }

  /** Asks for the search typed, unless it is the one already asked for. */
  searchTyped() {
    if (this.q !== this.searched) this.setSearch(this.q);
  }

  setSearch(q) {
    this.q = q;
    this.searched = q;
    for (const list of this.followers) {
      list.q = q;
      list.searched = q;
      list.go(0);
    }
    this.go(0);
  }

  setFilter(name, value) {
    if (this.values[name] === value) return;
    this.values[name] = value;
    this.go(0);
  }

  /** The list's name in the page (`data-list`): its noun, lower case, `-` for spaces. */
  get name() {
    return this.noun.toLowerCase().replace(/\W+/g, "-");
  }

  /** The search box, the filters and (unless `pager` is false) the pager, in one toolbar. */
  controls({ pager = true } = {}) {
    return html`<form class="toolbar list-controls" role="search" aria-label="Search ${inSentence(this.noun)}"
        data-list=${this.name} @submit=${(e) => { e.preventDefault(); this.setSearch(this.q); }}>
      ${this.searchBox()}
      ${this.filters.map((f) => this.filterView(f))}
      ${this.refresh ? html`<button type="button" class="secondary" @click=${() => this.reload()}>Refresh</button>` : nothing}
      ${pager ? html`<div class="pager">${this.pager()}</div>` : nothing}
    </form>`;
  }

  /** The pager alone, for a list searched with another one's box. */
  pagerBar() {
    return html`<div class="toolbar pager" data-list=${this.name}>${this.pager()}</div>`;
  }

  searchBox() {
    return html`<label class="search">Search
      <input type="search" name="q" autocomplete="off" spellcheck="false" maxlength="200"
        placeholder=${`${this.search} contains…`} .value=${this.q}
        @input=${(e) => { this.q = e.target.value; this.typed(); }}
        @change=${(e) => { this.q = e.target.value; this.searchTyped(); }}></label>`;
  }

  filterView(f) {
    const value = this.values[f.name];
    if (f.field) return f.field.view(value);
    const choices = typeof f.choices === "function" ? f.choices() : f.choices;
    return html`<label>${f.label}
      <select name=${f.name} @change=${(e) => this.setFilter(f.name, e.target.value)}>
        ${options(choices, value)}</select></label>`;
  }

  pager() {
    if (!this.loaded) return html`<span class="range" aria-live="polite">${this.noun}: loading…</span>`;
    return pagerParts({
      noun: this.noun,
      offset: this.offset,
      limit: this.limit,
      shown: this.rows.length,
      total: this.total,
      go: (offset) => this.go(offset),
    });
  }

  /** What the table says when the page has no row: `none` when nothing narrows the list. */
  empty(none) {
    if (!this.loaded) return "Loading…";
    if (this.offset > 0) return "Nothing on this page.";
    return this.narrowed ? `No ${inSentence(this.noun)} match the search.` : none;
  }
}

let fieldIds = 0;

/**
 * A form field naming one row of a list route (a topic, an endpoint, a service): a select of
 * every name while the list has at most SHORT_LIST, else a text field whose suggestions the
 * server finds as the user types. As a filter (`any` set), the empty choice is "no filter" and
 * `change(value)` is called when the choice changes.
 */
export class NameField {
  /**
   * @param screen the Screen whose form holds the field (redrawn when suggestions come).
   * @param path the list route the names come from (`/topics`).
   * @param name the form field's name; @param label its label.
   * @param value the name a row gives (`row.name`); @param text how a choice shows the row.
   * @param keep which rows may be chosen (endpoints that may publish, …).
   * @param any the label of "no choice" for a filter; absent, a choice is required.
   * @param none what a required select says when there is nothing to choose.
   */
  constructor(
    screen,
    { path, name, label, value = (r) => r.name, text = null, keep = () => true, any = null, none = "(none yet)" },
  ) {
    Object.assign(this, { screen, path, name, label, value, text: text ?? value, keep, any, none });
    this.id = `names-${name}-${++fieldIds}`;
    /** Every name fits in a select. */
    this.short = true;
    /** The rows offered: every one of a short list, else the suggestions for what is typed. */
    this.rows = [];
    /** Called with the field's value when it changes (filters). */
    this.change = null;
    this.suggest = debounced((typed) => this.loadSuggestions(typed));
  }

  async load() {
    const { rows, total } = await getPage(`${this.path}?limit=${SHORT_LIST}`);
    this.short = total === null || total <= rows.length;
    // A long list's field suggests names once it is focused or typed in.
    this.rows = this.short ? rows.filter(this.keep) : [];
  }

  async loadSuggestions(typed) {
    try {
      const q = new URLSearchParams({ limit: String(SUGGESTIONS) });
      if (typed) q.set("q", typed);
      const { rows } = await getPage(`${this.path}?${q}`);
      this.rows = rows.filter(this.keep);
    } catch {
      this.rows = []; // suggestions are a help: typing the whole name still works
    }
    this.screen.update();
  }

  /** The row with name `v` among those offered. */
  find(v) {
    return this.rows.find((r) => this.value(r) === v) ?? null;
  }

  /** The field, `current` chosen; `onChange(value)` also hears a form's choice. */
  view(current = "", onChange = null) {
    const changed = (v) => {
      this.change?.(v);
      onChange?.(v);
    };
    if (this.short) {
      const choices = this.rows.map((r) => [this.value(r), this.text(r)]);
      const first = this.any !== null ? [["", this.any]] : choices.length ? [] : [["", this.none]];
      return html`<label>${this.label}
        <select name=${this.name} ?required=${this.any === null} @change=${(e) => changed(e.target.value)}>
          ${options([...first, ...choices], current)}</select></label>`;
    }
    return html`<label>${this.label}
      <input name=${this.name} list=${this.id} autocomplete="off" spellcheck="false" ?required=${this.any === null}
        placeholder=${this.any ?? "type to find one"} .value=${current ?? ""}
        @focus=${(e) => this.suggest(e.target.value)}
        @input=${(e) => { this.suggest(e.target.value); this.typedChange(e.target.value, changed); }}
        @change=${(e) => { clearTimeout(this.changeTimer); changed(e.target.value); }}>
      <datalist id=${this.id}>
        ${this.rows.map((r) => html`<option value=${this.value(r)}>${this.text(r)}</option>`)}</datalist></label>`;
  }

  /** A typed filter applies once typing pauses. */
  typedChange(v, changed) {
    clearTimeout(this.changeTimer);
    this.changeTimer = setTimeout(() => changed(v), SEARCH_DELAY_MS);
  }
}
