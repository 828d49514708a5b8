//! Per-subscription order and flow control over real sockets, swept across the push window
//! (`max_in_flight`), the message shape (size and messages per push) and the topic kind (in RAM
//! or GD).
//!
//! For each combination one WSX session publishes through the gateway with many requests
//! pipelined on its connection, and another, on its own thread, answers every push as soon as it
//! has read it. Every message must arrive exactly once, in publication order, and the node must
//! never cut off the subscriber: it reads everything, so its pushes are bounded by the window and
//! the output budget, never by a 1008 close.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use signalbox_tests::*;
use tungstenite::Message;

const KIB: usize = 1024;
/// The push windows swept, from one push at a time to past what the output budget holds.
const WINDOWS: [i64; 5] = [1, 8, 32, 64, 256];

/// What is published in one combination, and how it is pushed.
#[derive(Clone, Copy)]
struct Shape {
    /// Bytes of each message's `data`.
    size: usize,
    /// Messages published.
    count: u64,
    /// The subscription's `delivery_batch_size`: messages per push.
    batch: i64,
    /// Messages accepted before the subscriber starts reading, so that pushes pile up.
    head_start: u64,
}

/// The message shapes swept. One message per push makes the window count messages, so any
/// reordering inside it shows. 300 unread pushes of 16 KiB are more than the 4 MiB output budget,
/// which the node must hold back by shrinking the window, not close on; pushes of 32 such
/// messages (512 KiB) outgrow it after eight, and 12.5 MiB wait for a subscriber that has not
/// begun to read — far more than the budget and the socket's buffers take.
const SHAPES: [Shape; 3] = [
    Shape { size: KIB, count: 2_000, batch: 1, head_start: 300 },
    Shape { size: 16 * KIB, count: 400, batch: 1, head_start: 300 },
    Shape { size: 16 * KIB, count: 800, batch: 32, head_start: 800 },
];
/// Publications sent and not yet answered on the publisher's connection.
const PIPELINE: u64 = 200;
/// Room for a 16 KiB publication in one frame, and small enough (× 8) that each session's output
/// budget is the node's 4 MiB floor: 256 unanswered 16 KiB pushes would not fit in it.
const MAX_FRAME_SIZE: usize = 64 * KIB;
/// How long one combination may take before what is missing counts as lost.
const DEADLINE: Duration = Duration::from_secs(90);
/// How long the subscriber's reads wait before it looks whether it should stop.
const READ_POLL: Duration = Duration::from_millis(100);

/// What the subscriber saw on its connection.
#[derive(Default)]
struct Deliveries {
    /// Sequence numbers in the order they first arrived.
    first: Vec<u64>,
    /// Every sequence number that arrived at least once.
    seen: HashSet<u64>,
    /// Arrivals of a sequence number already seen.
    duplicates: usize,
    /// Pushes read (one push may carry several messages).
    pushes: usize,
    /// Frames that were neither a push nor a sequence-numbered message.
    unexpected: Vec<String>,
    /// How the connection ended, when the node (not the test) ended it.
    cut_off: Option<String>,
}

/// One combination of the sweep and what came of it.
struct Outcome {
    window: i64,
    shape: Shape,
    gd: bool,
    /// Publications answered `zwsx.rspok`.
    accepted: usize,
    /// Publications answered otherwise, with the first such answer.
    refused: usize,
    first_refusal: Option<String>,
    received: usize,
    pushes: usize,
    out_of_order: usize,
    lost: usize,
    duplicates: usize,
    unexpected: Vec<String>,
    cut_off: Option<String>,
    /// The delivery actor had nothing queued or in flight once everything was received.
    settled: bool,
    elapsed: Duration,
}

impl Outcome {
    fn failed(&self) -> bool {
        self.refused > 0
            || self.out_of_order > 0
            || self.lost > 0
            || self.duplicates > 0
            || !self.unexpected.is_empty()
            || self.cut_off.is_some()
            || !self.settled
    }

    fn line(&self) -> String {
        format!(
            "max_in_flight={:<3} size={:>2}KiB batch={:<2} topic={:<3} accepted={} refused={} received={} pushes={} \
             out_of_order={} lost={} duplicates={} unexpected={} cut_off={:?} settled={} first_refusal={:?} {:.1}s",
            self.window,
            self.shape.size / KIB,
            self.shape.batch,
            if self.gd { "gd" } else { "ram" },
            self.accepted,
            self.refused,
            self.received,
            self.pushes,
            self.out_of_order,
            self.lost,
            self.duplicates,
            self.unexpected.len(),
            self.cut_off,
            self.settled,
            self.first_refusal,
            self.elapsed.as_secs_f64(),
        )
    }
}

/// The subscriber's thread: waits for `go`, then reads every frame and answers every push at
/// once, until `stop`.
struct Subscriber {
    sub_key: String,
    deliveries: Arc<Mutex<Deliveries>>,
    stop: Arc<AtomicBool>,
    go: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Subscriber {
    fn start(node: &Node, password: &str, topic: &str, window: i64, batch: i64) -> Subscriber {
        let mut ws = WsxClient::connect(node, "/wsx/flow");
        ws.login("flow-client", password);
        let (sub, early) = ws.invoke(
            "zato.pubsub.pubapi.subscribe-wsx",
            json!({"topic_name": topic, "ack_mode": "explicit", "max_in_flight": window, "delivery_batch_size": batch}),
        );
        assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "{sub}");
        assert!(early.is_empty(), "pushes before anything was published: {early:?}");
        let sub_key = sub["data"]["sub_key"].as_str().expect("sub_key").to_owned();
        ws.socket.get_ref().set_read_timeout(Some(READ_POLL)).expect("read timeout");

        let deliveries = Arc::new(Mutex::new(Deliveries::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (go, started) = mpsc::channel();
        let (seen, stopped) = (deliveries.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            if started.recv().is_err() {
                return; // the test gave up before publishing enough
            }
            read_and_answer(&mut ws, &seen, &stopped);
            let _ = ws.socket.close(None);
            let _ = ws.socket.flush();
        });
        Subscriber { sub_key, deliveries, stop, go, thread }
    }

    fn finish(self) -> Deliveries {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.go.send(());
        self.thread.join().expect("subscriber thread panicked");
        Arc::try_unwrap(self.deliveries).ok().expect("only owner").into_inner().expect("lock")
    }
}

fn read_and_answer(ws: &mut WsxClient, deliveries: &Mutex<Deliveries>, stop: &AtomicBool) {
    let token = ws.token.clone();
    let mut answers = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let text = match ws.socket.read() {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(frame)) => {
                deliveries.lock().unwrap().cut_off = Some(format!("closed by the node: {frame:?}"));
                return;
            }
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                continue
            }
            Err(e) => {
                if !stop.load(Ordering::Relaxed) {
                    deliveries.lock().unwrap().cut_off = Some(format!("connection failed: {e}"));
                }
                return;
            }
        };
        let frame: Value = serde_json::from_str(&text).expect("JSON frame");
        if frame["meta"]["msg_type"] != "zwsx.psrq" {
            deliveries.lock().unwrap().unexpected.push(text.chars().take(300).collect());
            continue;
        }
        let push_id = frame["meta"]["id"].as_str().expect("push id").to_owned();
        answers += 1;
        let answer = json!({"meta": {"action": "client-response", "id": format!("r{answers}"), "token": token,
            "in_reply_to": push_id}, "data": {"response": "ok"}});
        if let Err(e) = ws.socket.send(Message::Text(answer.to_string().into())) {
            deliveries.lock().unwrap().cut_off = Some(format!("answering a push failed: {e}"));
            return;
        }
        let items = match &frame["data"] {
            Value::Array(list) => list.clone(),
            one => vec![one.clone()],
        };
        let mut d = deliveries.lock().unwrap();
        d.pushes += 1;
        for item in items {
            match item["data"]["seq"].as_u64() {
                Some(seq) if d.seen.insert(seq) => d.first.push(seq),
                Some(_) => d.duplicates += 1,
                None => d.unexpected.push(item.to_string().chars().take(300).collect()),
            }
        }
    }
}

/// What the publisher's requests came to.
#[derive(Default)]
struct Publication {
    accepted: HashSet<u64>,
    refused: usize,
    first_refusal: Option<String>,
}

/// Publishes the shape's messages, `PIPELINE` requests ahead of the replies; tells `go` once
/// its head start of them (or all there will be) are accepted.
fn publish(publisher: &mut WsxClient, topic: &str, shape: Shape, go: &mpsc::Sender<()>) -> Publication {
    let token = publisher.token.clone();
    let Shape { size, count, head_start, .. } = shape;
    let pad = "x".repeat(size);
    let (mut next, mut answered) = (0u64, 0u64);
    let mut started = false;
    let mut out = Publication::default();
    while answered < count {
        while next < count && next - answered < PIPELINE {
            // `data` is exactly `size` bytes of JSON.
            let framing = format!(r#"{{"seq":{next},"pad":""}}"#).len();
            let data = json!({"seq": next, "pad": &pad[..size - framing]});
            publisher.send(
                &json!({"meta": {"action": "invoke-service", "id": format!("p{next}"), "token": token,
                "timestamp": "2026-01-01T00:00:00"}, "data": {"service": "zato.pubsub.pubapi.publish-message",
                "request": {"topic_name": topic, "data": data}}}),
            );
            next += 1;
        }
        let reply = publisher.recv();
        let seq = reply["meta"]["in_reply_to"]
            .as_str()
            .and_then(|id| id.strip_prefix('p'))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("a reply to no publication: {reply}"));
        if reply["meta"]["msg_type"] == "zwsx.rspok" && reply["meta"]["status"] == 200 {
            out.accepted.insert(seq);
        } else {
            out.refused += 1;
            out.first_refusal.get_or_insert_with(|| reply.to_string());
        }
        answered += 1;
        if !started && (out.accepted.len() as u64 >= head_start || answered == count) {
            started = true;
            let _ = go.send(());
        }
    }
    out
}

/// True once the subscription's delivery actor has nothing queued and nothing unanswered, so no
/// redelivery can come any more.
fn delivery_settled(node: &Node, sub_key: &str) -> bool {
    let (status, actor) = node.admin().get(&format!("/admin/v1/actors/delivery:{sub_key}"));
    status == 200
        && actor["in_flight"] == 0
        && actor["queue_depth_ram"].as_u64().unwrap_or(0) == 0
        && actor["queue_depth_gd"].as_u64().unwrap_or(0) == 0
}

fn run_combination(node: &Node, password: &str, window: i64, shape: Shape, gd: bool) -> Outcome {
    let started = Instant::now();
    let kind = if gd { "gd" } else { "ram" };
    let topic = format!("/flow/w{window}-{}k-b{}-{kind}", shape.size / KIB, shape.batch);
    let (status, created) = node.admin().post(
        "/admin/v1/topics",
        &json!({"name": topic, "has_gd": gd, "max_depth_gd": 100_000, "max_depth_non_gd": 100_000}),
    );
    assert_eq!(status, 201, "{created}");

    let subscriber = Subscriber::start(node, password, &topic, window, shape.batch);
    let mut publisher = WsxClient::connect(node, "/wsx/flow");
    publisher.login("flow-client", password);
    publisher.socket.get_ref().set_read_timeout(Some(DEADLINE)).expect("read timeout");
    let publication = publish(&mut publisher, &topic, shape, &subscriber.go);

    let deadline = started + DEADLINE;
    let all_received =
        |d: &Deliveries| d.cut_off.is_some() || publication.accepted.iter().all(|s| d.seen.contains(s));
    while !all_received(&subscriber.deliveries.lock().unwrap()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Redeliveries would come from what the node still holds: wait until it holds nothing (a
    // subscriber that was cut off will read nothing more, so there is nothing to wait for).
    let cut_off = subscriber.deliveries.lock().unwrap().cut_off.is_some();
    let mut settled = delivery_settled(node, &subscriber.sub_key);
    while !settled && !cut_off && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        settled = delivery_settled(node, &subscriber.sub_key);
    }
    let _ = publisher.socket.close(None);
    let seen = subscriber.finish();

    Outcome {
        window,
        shape,
        gd,
        accepted: publication.accepted.len(),
        refused: publication.refused,
        first_refusal: publication.first_refusal,
        received: seen.seen.len(),
        pushes: seen.pushes,
        out_of_order: seen.first.windows(2).filter(|w| w[1] < w[0]).count(),
        lost: publication.accepted.iter().filter(|s| !seen.seen.contains(s)).count(),
        duplicates: seen.duplicates,
        unexpected: seen.unexpected,
        cut_off: seen.cut_off,
        settled,
        elapsed: started.elapsed(),
    }
}

#[test]
fn every_window_size_and_topic_kind_delivers_in_order_exactly_once_without_cutting_off_a_reader() {
    let sweep = Instant::now();
    let node = Node::start(Backend::Sqlite);
    let channel = wsx_setup(&node, "flow", "/flow/**");
    let password = channel.password.clone();
    node.admin().patch_ok(&channel.admin_path(), &json!({"max_frame_size": MAX_FRAME_SIZE}));

    let mut outcomes = Vec::new();
    for gd in [false, true] {
        for shape in SHAPES {
            for window in WINDOWS {
                let outcome = run_combination(&node, &password, window, shape, gd);
                println!("{}", outcome.line());
                outcomes.push(outcome);
            }
        }
    }
    println!("sweep of {} combinations took {:.1}s", outcomes.len(), sweep.elapsed().as_secs_f64());

    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| o.failed())
        .map(|o| {
            let unexpected =
                o.unexpected.first().map(|f| format!(" first unexpected: {f}")).unwrap_or_default();
            format!("{}{unexpected}", o.line())
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} combinations failed:\n{}",
        failures.len(),
        outcomes.len(),
        failures.join("\n")
    );
    assert!(node.http().get("/health").0 == 200, "the node went down");
}

#[test]
fn an_ack_timeout_out_of_range_is_refused_with_400_naming_it_and_the_session_goes_on() {
    let node = Node::start(Backend::Sqlite);
    let mut ws = wsx_setup(&node, "bounds", "/bounds").logged_in(&node);
    node.admin().post_ok("/admin/v1/topics", &json!({"name": "/bounds"}));

    let (refused, _) = ws.invoke(
        "zato.pubsub.pubapi.subscribe-wsx",
        json!({"topic_name": "/bounds", "ack_mode": "explicit", "ack_timeout": 1e300}),
    );
    assert_eq!(refused["meta"]["msg_type"], "zwsx.rsperr", "{refused}");
    assert_eq!(refused["meta"]["status"], 400, "{refused}");
    assert_eq!(
        refused["meta"]["error_message"], "`ack_timeout` must be a number of seconds from 0.001 to 2592000",
        "{refused}"
    );
    assert_eq!(
        node.admin().get("/admin/v1/subscriptions"),
        (200, json!([])),
        "a refused subscription was stored"
    );

    let (sub, _) = ws.invoke(
        "zato.pubsub.pubapi.subscribe-wsx",
        json!({"topic_name": "/bounds", "ack_mode": "explicit", "ack_timeout": 30}),
    );
    assert_eq!(sub["meta"]["msg_type"], "zwsx.rspok", "the session did not go on: {sub}");
    let key = sub["data"]["sub_key"].as_str().unwrap_or_else(|| panic!("{sub}"));
    let (status, stored) = node.admin().get(&format!("/admin/v1/subscriptions/{key}"));
    assert_eq!((status, &stored["ack_timeout"]), (200, &json!(30.0)), "{stored}");
}
