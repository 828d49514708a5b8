//! The console's lists at scale, end to end in a headless Chromium: each list screen shows one
//! page of what the server counts ("Topics 1–50 of 120"), turns pages, searches as the user
//! types and filters through the admin API's own `q=` and filters, keeps all of that in the
//! address (a reload or the Back button shows the same page), and never asks for a whole list.
//! Screenshots land in `target/console-screenshots/`.

use signalbox_tests::browser::Browser;
use signalbox_tests::*;

/// Topics `/load/000`…; reader-a subscribes to each, reader-b to the first ten.
const TOPICS: usize = 120;
const READER_B_TOPICS: usize = 10;

/// Opens the console's screen at `#/{hash}` in the same document, as a link would.
fn show(browser: &Browser, hash: &str) {
    browser.script("location.hash = arguments[0]", json!([format!("#/{hash}")]));
}

fn topic(i: usize) -> String {
    format!("/load/{i:03}")
}

/// Loads the console anew (a new document, as a reload does) at the page's current hash,
/// after checking the list requests the old document made.
fn reload(browser: &Browser, node: &Node) {
    list_requests_were_pages(browser);
    let hash = hash(browser);
    browser.goto(&format!("{}/admin/ui/?reloaded#{}", node.url, hash.trim_start_matches('#')));
    record_requests(browser);
}

fn hash(browser: &Browser) -> String {
    browser.script("return location.hash", json!([])).as_str().unwrap().to_owned()
}

/// Waits until the pager of list `list` says exactly `expected`.
#[track_caller]
fn wait_range(browser: &Browser, list: &str, expected: &str) {
    let css = format!("[data-list={list}] .range");
    let shown = browser.wait_text(&css, expected);
    assert_eq!(shown, expected, "{css}");
}

/// The `attr` of every table row that has it, in the order shown.
fn listed(browser: &Browser, attr: &str) -> Vec<String> {
    let found = browser.script(
        "return [...document.querySelectorAll(`tr[${arguments[0]}]`)].map(r => r.getAttribute(arguments[0]))",
        json!([attr]),
    );
    found.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

/// One page of an admin list, and the total it counts.
fn api_page(admin: &Http, path: &str, field: &str) -> (Vec<String>, u64) {
    let (status, body, headers) = admin.raw("GET", path, None);
    assert_eq!(status, 200, "{path}: {body}");
    let total = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-total-count"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or_else(|| panic!("{path}: no X-Total-Count"));
    let rows = body.as_array().unwrap().iter().map(|r| r[field].as_str().unwrap().to_owned()).collect();
    (rows, total)
}

/// From now until the next full load, the page keeps the method and address of every request
/// its scripts make, for `list_requests_were_pages`.
fn record_requests(browser: &Browser) {
    browser.script(
        "if (!window.requestsMade) {
           window.requestsMade = [];
           const fetch = window.fetch;
           window.fetch = (url, init) => {
             window.requestsMade.push([init?.method ?? 'GET', String(url)]);
             return fetch(url, init);
           };
         }",
        json!([]),
    );
}

/// The list requests the page made since the last call (each `GET` of a list route), failing
/// on any that asked for more than a page: no `limit`, or one over 100. Answers how many it saw.
#[track_caller]
fn list_requests_were_pages(browser: &Browser) -> usize {
    let seen = browser.script(
        "const lists = /^\\/admin\\/v1\\/(topics|endpoints|subscriptions|actors|services|channels|links)$/;
         return window.requestsMade.splice(0)
           .filter(([method]) => method === 'GET')
           .map(([, url]) => new URL(url, location.href))
           .filter(u => lists.test(u.pathname))
           .map(u => [u.pathname + u.search, Number(u.searchParams.get('limit') ?? 'NaN')]);",
        json!([]),
    );
    let seen = seen.as_array().unwrap_or_else(|| panic!("no requests recorded: {seen}"));
    let whole: Vec<&Value> = seen.iter().filter(|r| r[1].as_u64().is_none_or(|l| l > 100)).collect();
    assert!(whole.is_empty(), "the page asked for whole lists: {whole:?}");
    seen.len()
}

#[test]
fn console_lists_page_search_and_filter_through_the_server_and_keep_it_in_the_address() {
    let Some(browser) = Browser::start() else { return };
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        let tag = format!("{backend:?}").to_lowercase();
        let shot = |name: &str| browser.screenshot(&format!("{tag}-lists-{name}"));

        for i in 0..TOPICS {
            let (status, body) = admin.post("/admin/v1/topics", &json!({"name": topic(i)}));
            assert_eq!(status, 201, "{body}");
        }
        for name in ["reader-a", "reader-b"] {
            let body = json!({"name": name, "role": "sub-only", "topic_patterns": ["sub=/load/**"]});
            assert_eq!(admin.post("/admin/v1/endpoints", &body).0, 201);
        }
        let subscribe = |endpoint: &str, i: usize| {
            let (status, sub) =
                admin.post("/admin/v1/subscriptions", &json!({"topic_name": topic(i), "endpoint": endpoint}));
            assert_eq!(status, 201, "{sub}");
            sub["sub_key"].as_str().unwrap().to_owned()
        };
        let keys_a: Vec<String> = (0..TOPICS).map(|i| subscribe("reader-a", i)).collect();
        let keys_b: Vec<String> = (0..READER_B_TOPICS).map(|i| subscribe("reader-b", i)).collect();
        let subscriptions = TOPICS + READER_B_TOPICS;

        browser.log_in(&node.url, &node.admin_key, "admin");
        record_requests(&browser);

        // Topics: the first page of 50 and the count, then the next page.
        show(&browser, "topics");
        wait_range(&browser, "topics", "Topics 1–50 of 120");
        assert_eq!(listed(&browser, "data-topic"), (0..50).map(topic).collect::<Vec<_>>());
        browser.click_button("form[data-list=topics]", "Next page");
        wait_range(&browser, "topics", "Topics 51–100 of 120");
        assert_eq!(listed(&browser, "data-topic"), (50..100).map(topic).collect::<Vec<_>>());
        assert_eq!(hash(&browser), "#/topics?offset=50");
        // A reload shows the same page; so does Back after another screen.
        reload(&browser, &node);
        wait_range(&browser, "topics", "Topics 51–100 of 120");
        assert_eq!(listed(&browser, "data-topic"), (50..100).map(topic).collect::<Vec<_>>());
        browser.click("nav a[href='#/subscriptions']");
        browser.wait("form[data-list=subscriptions]");
        browser.script("history.back()", json!([]));
        wait_range(&browser, "topics", "Topics 51–100 of 120");
        // A search narrows the list and the count to the names holding it, from the first page.
        browser.fill("form[data-list=topics] input[name=q]", "/load/11");
        wait_range(&browser, "topics", "Topics 1–10 of 10");
        assert_eq!(listed(&browser, "data-topic"), (110..120).map(topic).collect::<Vec<_>>());
        assert_eq!(hash(&browser), "#/topics?q=%2Fload%2F11");
        shot("topics-search");
        browser.fill("form[data-list=topics] input[name=q]", "no-such-topic");
        wait_range(&browser, "topics", "Topics: none");
        browser.wait_text("main tbody td.muted", "No topics match the search.");
        // Cleared, the whole count is back.
        browser.fill("form[data-list=topics] input[name=q]", "");
        wait_range(&browser, "topics", "Topics 1–50 of 120");
        assert_eq!(listed(&browser, "data-topic"), (0..50).map(topic).collect::<Vec<_>>());
        assert_eq!(hash(&browser), "#/topics");
        assert!(list_requests_were_pages(&browser) >= 6);

        // Subscriptions: pages as the API orders them.
        show(&browser, "subscriptions");
        wait_range(&browser, "subscriptions", "Subscriptions 1–50 of 130");
        let (first, total) = api_page(&admin, "/admin/v1/subscriptions?limit=50", "sub_key");
        assert_eq!((listed(&browser, "data-sub-key"), total as usize), (first, subscriptions));
        browser.click_button("form[data-list=subscriptions]", "Next page");
        wait_range(&browser, "subscriptions", "Subscriptions 51–100 of 130");
        let (second, _) = api_page(&admin, "/admin/v1/subscriptions?limit=50&offset=50", "sub_key");
        assert_eq!(listed(&browser, "data-sub-key"), second);
        // Searched by endpoint name, then by topic name.
        browser.fill("form[data-list=subscriptions] input[name=q]", "READER-B");
        wait_range(&browser, "subscriptions", "Subscriptions 1–10 of 10");
        assert_eq!(listed(&browser, "data-sub-key"), keys_b);
        browser.fill("form[data-list=subscriptions] input[name=q]", "/load/007");
        wait_range(&browser, "subscriptions", "Subscriptions 1–2 of 2");
        assert_eq!(listed(&browser, "data-sub-key"), [keys_a[7].clone(), keys_b[7].clone()]);
        browser.fill("form[data-list=subscriptions] input[name=q]", "");
        wait_range(&browser, "subscriptions", "Subscriptions 1–50 of 130");
        // Filtered by endpoint (a select: two endpoints), then by topic too (a field with
        // suggestions: 120 topics are too many to list).
        browser.select("form[data-list=subscriptions] select[name=endpoint]", "reader-b");
        wait_range(&browser, "subscriptions", "Subscriptions 1–10 of 10");
        assert_eq!(listed(&browser, "data-sub-key"), keys_b);
        assert_eq!(browser.count("form[data-list=subscriptions] select[name=topic_name]"), 0);
        browser.fill("form[data-list=subscriptions] input[name=topic_name]", &topic(3));
        wait_range(&browser, "subscriptions", "Subscriptions 1–1 of 1");
        assert_eq!(listed(&browser, "data-sub-key"), [keys_b[3].clone()]);
        assert_eq!(hash(&browser), "#/subscriptions?endpoint=reader-b&topic_name=%2Fload%2F003");
        shot("subscriptions-filtered");
        reload(&browser, &node);
        wait_range(&browser, "subscriptions", "Subscriptions 1–1 of 1");
        assert_eq!(listed(&browser, "data-sub-key"), [keys_b[3].clone()]);
        let filters = browser.script(
            "const f = document.querySelector('form[data-list=subscriptions]');
             return [f.elements.endpoint.value, f.elements.topic_name.value]",
            json!([]),
        );
        assert_eq!(filters, json!(["reader-b", "/load/003"]));

        // The create form's topic suggests names as they are typed, never listing all 120.
        browser.click("details.panel > summary");
        browser.fill("form[name=create-subscription] input[name=topic_name]", "/load/11");
        let suggested = || {
            browser.script(
                "return [...document.querySelectorAll('form[name=create-subscription] datalist option')].map(o => o.value)",
                json!([]),
            )
        };
        eventually("ten topics suggested", 15, || {
            suggested() == json!((110..120).map(topic).collect::<Vec<_>>())
        });
        browser.fill("form[name=create-subscription] input[name=topic_name]", &topic(119));
        browser.select("form[name=create-subscription] select[name=endpoint]", "reader-b");
        browser.click("form[name=create-subscription] button[type=submit]");
        browser.wait_text(".notice", "Subscribed reader-b to /load/119");
        let (found, total) =
            api_page(&admin, "/admin/v1/subscriptions?endpoint=reader-b&topic_name=/load/119", "endpoint");
        assert_eq!((found, total), (vec!["reader-b".to_owned()], 1));
        // The filtered list stays as it was.
        wait_range(&browser, "subscriptions", "Subscriptions 1–1 of 1");
        assert!(list_requests_were_pages(&browser) >= 4);

        // Actors: filtered by kind, searched by topic name, counted as the API counts them.
        let deliveries = subscriptions + 1;
        eventually("a delivery actor for each subscription", 15, || {
            api_page(&admin, "/admin/v1/actors?kind=delivery&limit=1", "id").1 == deliveries as u64
        });
        show(&browser, "actors");
        browser.wait("form[data-list=actors] .range");
        browser.select("form[data-list=actors] select[name=kind]", "delivery");
        wait_range(&browser, "actors", "Actors 1–50 of 131");
        let (first, _) = api_page(&admin, "/admin/v1/actors?kind=delivery&limit=50", "id");
        assert_eq!(listed(&browser, "data-actor-id"), first);
        assert!(first.iter().all(|id| id.starts_with("delivery:")), "{first:?}");
        browser.click_button("form[data-list=actors]", "Next page");
        wait_range(&browser, "actors", "Actors 51–100 of 131");
        let (second, _) = api_page(&admin, "/admin/v1/actors?kind=delivery&limit=50&offset=50", "id");
        assert_eq!(listed(&browser, "data-actor-id"), second);
        browser.fill("form[data-list=actors] input[name=q]", "/load/005");
        wait_range(&browser, "actors", "Actors 1–2 of 2");
        let mut expected = vec![format!("delivery:{}", keys_a[5]), format!("delivery:{}", keys_b[5])];
        expected.sort();
        assert_eq!(listed(&browser, "data-actor-id"), expected);
        assert_eq!(hash(&browser), "#/actors?kind=delivery&q=%2Fload%2F005");
        shot("actors-searched");
        browser.fill("form[data-list=actors] input[name=q]", "");
        wait_range(&browser, "actors", "Actors 1–50 of 131");
        browser.select("form[data-list=actors] select[name=kind]", "");
        let (_, every) = api_page(&admin, "/admin/v1/actors?limit=1", "id");
        wait_range(&browser, "actors", &format!("Actors 1–50 of {every}"));
        assert!(every as usize > deliveries, "delivery actors and others: {every}");

        // Endpoints: searched by name.
        show(&browser, "endpoints");
        wait_range(&browser, "endpoints", "Endpoints 1–2 of 2");
        browser.fill("form[data-list=endpoints] input[name=q]", "der-b");
        wait_range(&browser, "endpoints", "Endpoints 1–1 of 1");
        assert_eq!(listed(&browser, "data-endpoint"), ["reader-b"]);
        assert!(list_requests_were_pages(&browser) >= 6);

        // Connections, which the API answers whole: searched and paged in the page, one search
        // box for both lists.
        let ps = PubSub::setup(&node, "/conn", json!({}), "conn-app");
        ps.publish_ok(json!({"data": 1}));
        show(&browser, "connections");
        wait_range(&browser, "rest-clients", "REST clients 1–1 of 1");
        wait_range(&browser, "wsx-sessions", "WSX sessions: none");
        assert_eq!(listed(&browser, "data-endpoint"), ["conn-app"]);
        browser.fill("form[data-list=wsx-sessions] input[name=q]", "nobody");
        wait_range(&browser, "rest-clients", "REST clients: none");
        browser.wait_text("section[aria-label='REST clients'] td.muted", "No REST clients match the search.");
        assert_eq!(hash(&browser), "#/connections?q=nobody");
        browser.fill("form[data-list=wsx-sessions] input[name=q]", "CONN-");
        wait_range(&browser, "rest-clients", "REST clients 1–1 of 1");
        assert_eq!(listed(&browser, "data-endpoint"), ["conn-app"]);

        // At 800 px, no list scrolls sideways; every screen asked for pages only.
        assert_eq!(
            admin.post("/admin/v1/channels", &json!({"name": "lists-gw", "path": "/wsx/lists"})).0,
            201
        );
        let nowhere = closed_port_url().replace("http://", "ws://");
        let link = json!({
            "name": "lists-link", "address": format!("{nowhere}/wsx/x"),
            "username": "u", "secret": "s", "auto_reconnect": false,
        });
        assert_eq!(admin.post("/admin/v1/links", &link).0, 201);
        let (_, services) = api_page(&admin, "/admin/v1/services", "name");
        browser.resize(800, 1000);
        for (screen, list, range) in [
            ("topics", "topics", "Topics 1–50 of 121".to_owned()),
            ("subscriptions?endpoint=reader-b", "subscriptions", "Subscriptions 1–11 of 11".into()),
            ("endpoints", "endpoints", "Endpoints 1–3 of 3".into()),
            ("actors?kind=delivery", "actors", "Actors 1–50 of 131".into()),
            ("channels", "channels", "Channels 1–1 of 1".into()),
            ("links", "links", "Links 1–1 of 1".into()),
            ("services", "services", format!("Services 1–{services} of {services}")),
            ("connections", "rest-clients", "REST clients 1–1 of 1".into()),
        ] {
            show(&browser, screen);
            wait_range(&browser, list, &range);
            let wide = browser.scrolls_sideways();
            let path = shot(&format!("narrow-{}", screen.split('?').next().unwrap()));
            assert_eq!(wide, json!(false), "{screen} scrolls sideways at 800 px; see {}", path.display());
        }
        list_requests_were_pages(&browser);
        browser.resize(1400, 1000);
        show(&browser, "subscriptions");
        wait_range(&browser, "subscriptions", "Subscriptions 1–50 of 131");
        shot("subscriptions");
        assert_eq!(browser.page_errors(), Vec::<String>::new(), "the page logged errors");
    }
}

/// The select `name` of list `list`, as the page shows it.
fn chosen(browser: &Browser, list: &str, name: &str) -> Value {
    browser.script(
        "return document.querySelector(`form[data-list=${arguments[0]}]`).elements[arguments[1]].value",
        json!([list, name]),
    )
}

#[test]
fn console_topics_filter_by_state_and_endpoints_by_role_and_type_through_the_server() {
    let Some(browser) = Browser::start() else { return };
    for backend in backends() {
        let node = Node::start(backend);
        let admin = node.admin();
        let tag = format!("{backend:?}").to_lowercase();

        // 60 active topics `/on/00`…, 7 inactive `/off/0`… of which the first 3 are GD.
        let on = |i: usize| format!("/on/{i:02}");
        let off = |i: usize| format!("/off/{i}");
        for i in 0..60 {
            assert_eq!(admin.post("/admin/v1/topics", &json!({"name": on(i)})).0, 201);
        }
        for i in 0..7 {
            let body = json!({"name": off(i), "is_active": false, "has_gd": i < 3});
            assert_eq!(admin.post("/admin/v1/topics", &body).0, 201);
        }
        for (name, role, endpoint_type) in [
            ("pub-rest", "pub-only", "rest"),
            ("sub-rest", "sub-only", "rest"),
            ("sub-wsx", "sub-only", "wsx"),
            ("both-wsx", "pub-sub", "wsx"),
            ("sub-soap", "sub-only", "soap"),
        ] {
            let body = json!({"name": name, "role": role, "endpoint_type": endpoint_type});
            assert_eq!(admin.post("/admin/v1/endpoints", &body).0, 201);
        }

        browser.log_in(&node.url, &node.admin_key, "admin");
        record_requests(&browser);

        // Topics: active ones, paged; inactive ones; inactive GD ones; searched among them.
        show(&browser, "topics");
        wait_range(&browser, "topics", "Topics 1–50 of 67");
        browser.select("form[data-list=topics] select[name=active]", "true");
        wait_range(&browser, "topics", "Topics 1–50 of 60");
        assert_eq!(listed(&browser, "data-topic"), (0..50).map(on).collect::<Vec<_>>());
        browser.click_button("form[data-list=topics]", "Next page");
        wait_range(&browser, "topics", "Topics 51–60 of 60");
        assert_eq!(listed(&browser, "data-topic"), (50..60).map(on).collect::<Vec<_>>());
        assert_eq!(hash(&browser), "#/topics?active=true&offset=50");
        // Another filter starts again from the first page.
        browser.select("form[data-list=topics] select[name=active]", "false");
        wait_range(&browser, "topics", "Topics 1–7 of 7");
        assert_eq!(listed(&browser, "data-topic"), (0..7).map(off).collect::<Vec<_>>());
        assert_eq!(browser.count("tr[data-topic] .tag.inactive"), 7);
        browser.select("form[data-list=topics] select[name=has_gd]", "true");
        wait_range(&browser, "topics", "Topics 1–3 of 3");
        assert_eq!(listed(&browser, "data-topic"), (0..3).map(off).collect::<Vec<_>>());
        browser.fill("form[data-list=topics] input[name=q]", "/OFF/1");
        wait_range(&browser, "topics", "Topics 1–1 of 1");
        assert_eq!(listed(&browser, "data-topic"), [off(1)]);
        assert_eq!(hash(&browser), "#/topics?active=false&has_gd=true&q=%2FOFF%2F1");
        browser.screenshot(&format!("{tag}-lists-topics-filtered"));
        browser.select("form[data-list=topics] select[name=has_gd]", "false");
        wait_range(&browser, "topics", "Topics: none");
        browser.wait_text("main tbody td.muted", "No topics match the search.");
        browser.fill("form[data-list=topics] input[name=q]", "");
        wait_range(&browser, "topics", "Topics 1–4 of 4");
        assert_eq!(listed(&browser, "data-topic"), (3..7).map(off).collect::<Vec<_>>());
        // A reload keeps the filters, in the list and in the selects.
        reload(&browser, &node);
        wait_range(&browser, "topics", "Topics 1–4 of 4");
        assert_eq!(listed(&browser, "data-topic"), (3..7).map(off).collect::<Vec<_>>());
        assert_eq!(
            (chosen(&browser, "topics", "active"), chosen(&browser, "topics", "has_gd")),
            (json!("false"), json!("false"))
        );
        // "all" is no filter: the whole count is back.
        browser.select("form[data-list=topics] select[name=has_gd]", "");
        browser.select("form[data-list=topics] select[name=active]", "");
        wait_range(&browser, "topics", "Topics 1–50 of 67");
        assert_eq!(hash(&browser), "#/topics");
        assert!(list_requests_were_pages(&browser) >= 2);

        // Endpoints: by role, then by type too, then by type alone.
        show(&browser, "endpoints");
        wait_range(&browser, "endpoints", "Endpoints 1–5 of 5");
        browser.select("form[data-list=endpoints] select[name=role]", "sub-only");
        wait_range(&browser, "endpoints", "Endpoints 1–3 of 3");
        assert_eq!(listed(&browser, "data-endpoint"), ["sub-rest", "sub-wsx", "sub-soap"]);
        browser.select("form[data-list=endpoints] select[name=endpoint_type]", "wsx");
        wait_range(&browser, "endpoints", "Endpoints 1–1 of 1");
        assert_eq!(listed(&browser, "data-endpoint"), ["sub-wsx"]);
        assert_eq!(hash(&browser), "#/endpoints?role=sub-only&endpoint_type=wsx");
        browser.screenshot(&format!("{tag}-lists-endpoints-filtered"));
        reload(&browser, &node);
        wait_range(&browser, "endpoints", "Endpoints 1–1 of 1");
        assert_eq!(listed(&browser, "data-endpoint"), ["sub-wsx"]);
        assert_eq!(
            (chosen(&browser, "endpoints", "role"), chosen(&browser, "endpoints", "endpoint_type")),
            (json!("sub-only"), json!("wsx"))
        );
        browser.select("form[data-list=endpoints] select[name=role]", "");
        wait_range(&browser, "endpoints", "Endpoints 1–2 of 2");
        assert_eq!(listed(&browser, "data-endpoint"), ["sub-wsx", "both-wsx"]);
        // The search narrows the filtered list further.
        browser.fill("form[data-list=endpoints] input[name=q]", "BOTH");
        wait_range(&browser, "endpoints", "Endpoints 1–1 of 1");
        assert_eq!(listed(&browser, "data-endpoint"), ["both-wsx"]);
        browser.select("form[data-list=endpoints] select[name=endpoint_type]", "rest");
        wait_range(&browser, "endpoints", "Endpoints: none");
        browser.select("form[data-list=endpoints] select[name=role]", "pub-only");
        browser.fill("form[data-list=endpoints] input[name=q]", "");
        wait_range(&browser, "endpoints", "Endpoints 1–1 of 1");
        assert_eq!(listed(&browser, "data-endpoint"), ["pub-rest"]);
        assert_eq!(hash(&browser), "#/endpoints?endpoint_type=rest&role=pub-only");
        assert!(list_requests_were_pages(&browser) >= 5);
        assert_eq!(browser.page_errors(), Vec::<String>::new(), "the page logged errors");
    }
}
