// The console shell: logging in with an admin key, the navigation, and the hash router that
// starts one screen module at a time (`#/<screen>/<param>…?<query>`; the query holds what a
// list shows — its search, filters and page — and changes without starting the screen anew).

import { html, nothing, render } from "./vendor/lit-html.js";
import { api, session } from "./api.js";
import { errorBox, onSubmit } from "./view.js";
import { OverviewScreen } from "./screens/overview.js";
import { TopicsScreen } from "./screens/topics.js";
import { EndpointsScreen } from "./screens/endpoints.js";
import { SubscriptionsScreen } from "./screens/subscriptions.js";
import { QueueScreen } from "./screens/queue.js";
import { MessageScreen } from "./screens/message.js";
import { ChannelsScreen } from "./screens/channels.js";
import { LinksScreen } from "./screens/links.js";
import { ServicesScreen } from "./screens/services.js";
import { ActorsScreen } from "./screens/actors.js";
import { ClusterScreen } from "./screens/cluster.js";
import { ConnectionsScreen } from "./screens/connections.js";

/**
 * Screens by their first hash segment; `nav` ones are listed in the navigation, the others
 * highlight the entry they are `under`.
 */
const SCREENS = {
  overview: { screen: OverviewScreen, title: "Overview", nav: true },
  topics: { screen: TopicsScreen, title: "Topics", nav: true },
  endpoints: { screen: EndpointsScreen, title: "Endpoints", nav: true },
  subscriptions: { screen: SubscriptionsScreen, title: "Subscriptions", nav: true },
  queue: { screen: QueueScreen, title: "Queue", under: "subscriptions" },
  message: { screen: MessageScreen, title: "Message", under: "subscriptions" },
  channels: { screen: ChannelsScreen, title: "WSX channels", nav: true },
  links: { screen: LinksScreen, title: "Links", nav: true },
  services: { screen: ServicesScreen, title: "Services", nav: true },
  connections: { screen: ConnectionsScreen, title: "Connections", nav: true },
  actors: { screen: ActorsScreen, title: "Actors", nav: true },
  cluster: { screen: ClusterScreen, title: "Cluster", nav: true },
};

const root = document.getElementById("app");
root.replaceChildren(); // the "Loading…" line; lit-html renders beside what it did not draw
let current = null;
let loginError = null;

function route() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split(/\?(.*)/s);
  const [name, ...params] = path.split("/").map(decodeURIComponent);
  return { name: SCREENS[name] ? name : "overview", params, query: new URLSearchParams(query) };
}

/** Draws `screen` inside the shell, unless the user has moved on to another screen. */
function draw(screen) {
  if (screen !== current) return;
  if (screen.error?.status === 401) {
    // The key was revoked while in use: back to the login form, saying why.
    logout(screen.error);
    return;
  }
  render(shell(screen), root);
}

function shell(screen) {
  const who = session.whoami();
  const { name } = route();
  const active = SCREENS[name].under ?? name;
  return html`
    <header class="top">
      <h1><a href="#/overview">Signalbox</a></h1>
      <p class="who">
        node <strong>${who.node}</strong> · key <strong>${who.name}</strong>
        <span class="role role-${who.role}">${who.role}</span>
      </p>
      <button type="button" class="secondary" @click=${() => logout(null)}>Log out</button>
    </header>
    <nav aria-label="Console screens">
      <ul>
        ${Object.entries(SCREENS)
          .filter(([, s]) => s.nav)
          .map(
            ([name, s]) => html`<li>
              <a href="#/${name}" aria-current=${active === name ? "page" : "false"}>${s.title}</a>
            </li>`,
          )}
      </ul>
    </nav>
    <main id="main" tabindex="-1" aria-busy=${screen.busy ? "true" : "false"}>
      ${session.canWrite()
        ? nothing
        : html`<p class="readonly" role="note">This key is read-only: the console shows no controls that change anything.</p>`}
      ${screen.view()}
    </main>`;
}

async function start() {
  current?.stop();
  current = null;
  if (!session.key()) {
    render(loginView(), root);
    document.querySelector("input[name=key]")?.focus();
    return;
  }
  const { name, params, query } = route();
  const ctx = {
    params,
    query,
    canWrite: session.canWrite(),
    node: session.whoami()?.node,
    render: draw,
  };
  const screen = new SCREENS[name].screen(ctx);
  current = screen;
  document.title = `${SCREENS[name].title} · Signalbox`;
  draw(screen);
  document.getElementById("main")?.focus();
  await screen.start();
}

function loginView() {
  return html`
    <main class="login" id="main">
      <h1>Signalbox console</h1>
      <form name="login" @submit=${onSubmit(login)}>
        <label>Admin key
          <input name="key" type="password" autocomplete="off" spellcheck="false" required>
        </label>
        <button type="submit">Log in</button>
      </form>
      <p class="hint">The key is kept for this browser tab only and sent to this node alone.</p>
      ${errorBox(loginError)}
    </main>`;
}

/** Checks the key with `GET /admin/v1/whoami` before keeping it. */
async function login(form) {
  const key = form.elements.key.value.trim();
  try {
    const who = await api("GET", "/whoami", undefined, key);
    session.save(key, who);
    loginError = null;
    if (location.hash) start();
    else location.hash = "#/overview"; // hashchange starts the screen
  } catch (e) {
    loginError = e;
    render(loginView(), root);
  }
}

function logout(error) {
  session.clear();
  loginError = error;
  start();
}

window.addEventListener("hashchange", start);
start();
