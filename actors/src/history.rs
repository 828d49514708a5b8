//! The node's recent history of its own figures, kept in memory for the web console: no
//! external service, no SQL, nothing written to disk.
//!
//! A sampler (the broker's) records a [`Tick`] every [`FINE_INTERVAL`]: the node's counters and
//! gauges as `/metrics` exports them, and each local subscription's figures. Samples go into
//! fixed-size rings — the node's every 5 s for an hour and every minute for a day, each
//! subscription's every 5 s for five minutes and every minute for two hours — so memory is
//! bounded: about 250 KB for the node and at most 5 KB per subscription. A subscription's rings
//! keep runs of equal samples as one entry ([`SubRing`]), so an idle one costs about 300 bytes
//! however long it has been idle. Rates are not stored but read from two consecutive samples of a
//! counter, so a chart over a day shows per-minute averages.
//!
//! [`Traffic`] is the same idea for one client connection: messages in and out and their rates,
//! read by admins, counted by whatever serves the connection.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::Metrics;

/// How often the node samples its figures.
pub const FINE_INTERVAL: Duration = Duration::from_secs(5);
/// Fine samples kept: an hour.
pub const FINE_LEN: usize = 720;
/// One coarse sample every this many fine ones: a minute.
pub const COARSE_EVERY: u64 = 12;
/// Coarse samples kept: a day.
pub const COARSE_LEN: usize = 1440;
/// A subscription's fine samples kept: five minutes.
pub const SUB_FINE_LEN: usize = 60;
/// A subscription's coarse samples kept: two hours.
pub const SUB_COARSE_LEN: usize = 120;
/// The longest range a history answers, in seconds: the coarse ring's.
pub const MAX_RANGE: u64 = COARSE_LEN as u64 * 60;

/// A fixed-capacity ring: a new sample pushes the oldest out of a full ring.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> Ring<T> {
    pub fn new(capacity: usize) -> Ring<T> {
        Ring { items: VecDeque::new(), capacity: capacity.max(1) }
    }

    pub fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    pub fn last(&self) -> Option<&T> {
        self.items.back()
    }
}

/// Per second, from `before` to `after` over `secs`; a counter that went back (a series
/// dropped with its subscription) counts as no change.
fn rate(before: u64, after: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    after.saturating_sub(before) as f64 / secs
}

fn seconds_between(a: i64, b: i64) -> f64 {
    (b - a) as f64 / 1e6
}

/// The node's counters (since it started) and gauges at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NodeSample {
    /// Microseconds since the epoch.
    pub time: i64,
    pub published: u64,
    pub delivered: u64,
    pub acked: u64,
    pub dead_lettered: u64,
    /// Σ of the topics' GD depths (the whole cluster's, as each node reads them from SQL).
    pub depth_gd: i64,
    /// Σ of the topics' in-RAM depths on this node.
    pub depth_ram: i64,
    /// Dead letters held by this node's subscriptions, GD and in-RAM.
    pub dead_letters: i64,
    /// Messages handed over and not yet acknowledged, on this node.
    pub in_flight: i64,
    pub wsx_sessions: i64,
    /// REST clients seen lately (see the broker's client book).
    pub rest_clients: i64,
}

/// Rates per second between two node samples, with the later sample's gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NodePoint {
    pub time: i64,
    pub publish: f64,
    pub deliver: f64,
    pub ack: f64,
    pub dead_letter: f64,
    pub sample: NodeSample,
}

impl NodePoint {
    fn between(a: &NodeSample, b: &NodeSample) -> NodePoint {
        let secs = seconds_between(a.time, b.time);
        NodePoint {
            time: b.time,
            publish: rate(a.published, b.published, secs),
            deliver: rate(a.delivered, b.delivered, secs),
            ack: rate(a.acked, b.acked, secs),
            dead_letter: rate(a.dead_lettered, b.dead_lettered, secs),
            sample: *b,
        }
    }
}

/// One subscription's figures at one moment, as the sampler put them together: SQL's counts,
/// the delivery actor's, and the counters of `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubFigures {
    pub topic_name: String,
    /// `running`, `paused` or `waiting`, as its delivery actor says.
    pub state: String,
    /// Deliverable GD rows (in flight ones included), as `/metrics` counts them.
    pub depth_gd: i64,
    /// In-RAM messages queued, not in flight, as `/metrics` counts them.
    pub depth_ram: i64,
    pub in_flight: i64,
    pub in_flight_gd: i64,
    pub dead_gd: i64,
    pub dead_ram: i64,
    /// Publication time (µs) of the oldest message queued, GD or in RAM.
    pub oldest_pub_time: Option<i64>,
    /// Counters of `/metrics` for the subscription.
    pub delivered: u64,
    pub acked: u64,
}

/// A subscription's sample in its rings: 20 bytes. Counters wrap at 2³²; rates read them with
/// wrapping arithmetic, right as long as fewer than 4 billion messages pass between two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SubSample {
    /// Seconds since the epoch.
    time: u32,
    depth_gd: u32,
    depth_ram: u32,
    delivered: u32,
    acked: u32,
}

impl SubSample {
    fn same_figures(&self, other: &SubSample) -> bool {
        (self.depth_gd, self.depth_ram, self.delivered, self.acked)
            == (other.depth_gd, other.depth_ram, other.delivered, other.acked)
    }
}

/// `count` consecutive samples with the same figures, the first at `first.time`, the last at
/// `last_time`; the ones between are taken as evenly spaced.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: SubSample,
    last_time: u32,
    count: u32,
}

impl Run {
    /// The `k`th sample of the run (0 ≤ k < count).
    fn sample(&self, k: u32) -> SubSample {
        let time = match self.count {
            0 | 1 => self.first.time,
            n => {
                let span = u64::from(self.last_time.saturating_sub(self.first.time));
                self.first.time + (span * u64::from(k) / u64::from(n - 1)) as u32
            }
        };
        SubSample { time, ..self.first }
    }
}

/// A subscription's ring of samples, holding up to `capacity` samples as runs of equal figures:
/// a subscription whose figures do not change costs one entry.
#[derive(Debug, Clone)]
struct SubRing {
    runs: VecDeque<Run>,
    len: usize,
    capacity: usize,
}

impl SubRing {
    fn new(capacity: usize) -> SubRing {
        SubRing { runs: VecDeque::new(), len: 0, capacity: capacity.max(1) }
    }

    fn push(&mut self, sample: SubSample) {
        match self.runs.back_mut() {
            Some(run) if run.first.same_figures(&sample) => {
                run.last_time = sample.time;
                run.count += 1;
            }
            _ => self.runs.push_back(Run { first: sample, last_time: sample.time, count: 1 }),
        }
        self.len += 1;
        if self.len > self.capacity {
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        let Some(front) = self.runs.front_mut() else { return };
        if front.count <= 1 {
            self.runs.pop_front();
        } else {
            let second = front.sample(1);
            front.first.time = second.time;
            front.count -= 1;
        }
        self.len -= 1;
    }

    /// Every sample, oldest first.
    fn samples(&self) -> Vec<SubSample> {
        self.runs.iter().flat_map(|run| (0..run.count).map(|k| run.sample(k))).collect()
    }

    /// The last two samples, older first.
    fn last_two(&self) -> Option<(SubSample, SubSample)> {
        let mut runs = self.runs.iter().rev();
        let last = runs.next()?;
        let newest = last.sample(last.count - 1);
        if last.count >= 2 {
            return Some((last.sample(last.count - 2), newest));
        }
        let before = runs.next()?;
        Some((before.sample(before.count - 1), newest))
    }
}

/// A subscription's depths at one moment, with the delivery rate since the sample before.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SubPoint {
    pub time: i64,
    pub depth_gd: i64,
    pub depth_ram: i64,
    pub deliver: f64,
    pub ack: f64,
}

fn sub_point(a: &SubSample, b: &SubSample) -> SubPoint {
    let secs = f64::from(b.time.saturating_sub(a.time));
    let per_sec = |x: u32, y: u32| if secs > 0.0 { f64::from(y.wrapping_sub(x)) / secs } else { 0.0 };
    SubPoint {
        time: i64::from(b.time) * 1_000_000,
        depth_gd: i64::from(b.depth_gd),
        depth_ram: i64::from(b.depth_ram),
        deliver: per_sec(a.delivered, b.delivered),
        ack: per_sec(a.acked, b.acked),
    }
}

/// Delivery and ack rates of a subscription over its last sampling interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SubRates {
    pub deliver: f64,
    pub ack: f64,
}

struct SubHistory {
    latest: SubFigures,
    /// When `latest` was sampled (µs).
    sampled_at: i64,
    fine: SubRing,
    coarse: SubRing,
}

impl SubHistory {
    fn rates(&self) -> SubRates {
        match self.fine.last_two() {
            Some((a, b)) => {
                let p = sub_point(&a, &b);
                SubRates { deliver: p.deliver, ack: p.ack }
            }
            None => SubRates::default(),
        }
    }
}

/// What one sampling found.
#[derive(Debug, Clone, Default)]
pub struct Tick {
    pub node: NodeSample,
    /// Figures of each subscription this node delivers.
    pub subs: HashMap<String, SubFigures>,
    /// Publications accepted so far, by topic name.
    pub published_by_topic: HashMap<String, u64>,
}

/// A series of points `interval` seconds apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series<P> {
    pub interval: u64,
    pub points: Vec<P>,
}

struct TopicRate {
    time: i64,
    published: u64,
    /// Publications per second over the last interval.
    rate: f64,
}

struct Inner {
    fine: Ring<NodeSample>,
    coarse: Ring<NodeSample>,
    ticks: u64,
    subs: HashMap<String, SubHistory>,
    topics: HashMap<String, TopicRate>,
}

/// The node's rings, shared by the sampler (writer) and admin requests (readers).
pub struct History {
    inner: Mutex<Inner>,
}

impl Default for History {
    fn default() -> Self {
        History::new()
    }
}

impl History {
    pub fn new() -> History {
        History {
            inner: Mutex::new(Inner {
                fine: Ring::new(FINE_LEN),
                coarse: Ring::new(COARSE_LEN),
                ticks: 0,
                subs: HashMap::new(),
                topics: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps one sampling. Subscriptions no longer listed (deleted, or delivered elsewhere now)
    /// lose their history.
    pub fn record(&self, tick: Tick) {
        let mut inner = self.lock();
        let now = tick.node.time;
        let previous = inner.fine.last().map(|s| s.time);
        let coarse = inner.ticks.is_multiple_of(COARSE_EVERY);
        inner.ticks += 1;
        inner.fine.push(tick.node);
        if coarse {
            inner.coarse.push(tick.node);
        }
        inner.subs.retain(|key, _| tick.subs.contains_key(key));
        for (key, figures) in tick.subs {
            let sample = SubSample {
                time: u32::try_from(now / 1_000_000).unwrap_or(u32::MAX),
                depth_gd: u32::try_from(figures.depth_gd.max(0)).unwrap_or(u32::MAX),
                depth_ram: u32::try_from(figures.depth_ram.max(0)).unwrap_or(u32::MAX),
                delivered: figures.delivered as u32,
                acked: figures.acked as u32,
            };
            let entry = inner.subs.entry(key).or_insert_with(|| SubHistory {
                latest: SubFigures::default(),
                sampled_at: now,
                fine: SubRing::new(SUB_FINE_LEN),
                coarse: SubRing::new(SUB_COARSE_LEN),
            });
            entry.latest = figures;
            entry.sampled_at = now;
            entry.fine.push(sample);
            if coarse {
                entry.coarse.push(sample);
            }
        }
        inner.topics.retain(|name, _| tick.published_by_topic.contains_key(name));
        for (name, published) in tick.published_by_topic {
            match inner.topics.get_mut(&name) {
                Some(t) => {
                    t.rate = rate(t.published, published, seconds_between(t.time, now));
                    t.time = now;
                    t.published = published;
                }
                None => {
                    // A topic's series starts with its first publication: it was 0 at the
                    // sample before.
                    let rate = previous.map_or(0.0, |then| rate(0, published, seconds_between(then, now)));
                    inner.topics.insert(name, TopicRate { time: now, published, rate });
                }
            }
        }
    }

    /// The last sample and the rates since the one before it (zero rates with one sample).
    pub fn latest(&self) -> Option<NodePoint> {
        let inner = self.lock();
        let mut last = inner.fine.iter().rev();
        match (last.next(), last.next()) {
            (Some(b), Some(a)) => Some(NodePoint::between(a, b)),
            (Some(b), None) => Some(NodePoint { time: b.time, sample: *b, ..NodePoint::default() }),
            _ => None,
        }
    }

    /// The node's points of the last `range` seconds up to `now` (µs): every 5 s up to an hour,
    /// every minute beyond.
    pub fn node_series(&self, range: u64, now: i64) -> Series<NodePoint> {
        let inner = self.lock();
        let (ring, interval) = if range <= FINE_LEN as u64 * FINE_INTERVAL.as_secs() {
            (&inner.fine, FINE_INTERVAL.as_secs())
        } else {
            (&inner.coarse, FINE_INTERVAL.as_secs() * COARSE_EVERY)
        };
        let from = now - (range as i64) * 1_000_000;
        let samples: Vec<&NodeSample> = ring.iter().collect();
        let points = samples
            .windows(2)
            .filter(|w| w[1].time >= from)
            .map(|w| NodePoint::between(w[0], w[1]))
            .collect();
        Series { interval, points }
    }

    /// A subscription's latest figures, when they were sampled (µs), and its rates.
    pub fn sub(&self, sub_key: &str) -> Option<(SubFigures, i64, SubRates)> {
        let inner = self.lock();
        inner.subs.get(sub_key).map(|h| (h.latest.clone(), h.sampled_at, h.rates()))
    }

    /// Every sampled subscription: key, figures, when sampled, rates.
    pub fn subs(&self) -> Vec<(String, SubFigures, i64, SubRates)> {
        let inner = self.lock();
        inner.subs.iter().map(|(k, h)| (k.clone(), h.latest.clone(), h.sampled_at, h.rates())).collect()
    }

    /// A subscription's rates over its last sampling interval (zero before two samples).
    pub fn sub_rates(&self, sub_key: &str) -> SubRates {
        self.lock().subs.get(sub_key).map(SubHistory::rates).unwrap_or_default()
    }

    /// A subscription's points of the last `range` seconds up to `now` (µs): every 5 s up to
    /// five minutes, every minute beyond (two hours at most).
    pub fn sub_series(&self, sub_key: &str, range: u64, now: i64) -> Series<SubPoint> {
        let inner = self.lock();
        let fine_span = SUB_FINE_LEN as u64 * FINE_INTERVAL.as_secs();
        let coarse = range > fine_span;
        let interval = if coarse { FINE_INTERVAL.as_secs() * COARSE_EVERY } else { FINE_INTERVAL.as_secs() };
        let Some(h) = inner.subs.get(sub_key) else { return Series { interval, points: Vec::new() } };
        let ring = if coarse { &h.coarse } else { &h.fine };
        let from = now - (range as i64) * 1_000_000;
        let samples = ring.samples();
        let mut points: Vec<SubPoint> = samples.windows(2).map(|w| sub_point(&w[0], &w[1])).collect();
        // The first sample has no rate before it, but its depths belong on a depth chart.
        if let Some(first) = samples.first() {
            points.insert(0, SubPoint { deliver: 0.0, ack: 0.0, ..sub_point(first, first) });
        }
        points.retain(|p| p.time >= from);
        Series { interval, points }
    }

    /// Publications per second to a topic over the last sampling interval, on this node.
    pub fn topic_publish_rate(&self, topic: &str) -> f64 {
        self.lock().topics.get(topic).map_or(0.0, |t| t.rate)
    }
}

/// The node's counters and gauges read from its Prometheus registry — the very values
/// `/metrics` exports, summed over their labels where the console shows a total.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsReading {
    pub published: u64,
    pub delivered: u64,
    pub acked: u64,
    pub dead_lettered: u64,
    pub depth_gd: i64,
    pub depth_ram: i64,
    pub wsx_sessions: i64,
    pub published_by_topic: HashMap<String, u64>,
    pub delivered_by_sub: HashMap<String, u64>,
    pub acked_by_sub: HashMap<String, u64>,
}

impl MetricsReading {
    /// Reads only the families it sums: gathering the whole registry would also build every
    /// subscription's depth gauges, every few seconds, for nothing.
    pub fn of(metrics: &Metrics) -> MetricsReading {
        use prometheus::core::Collector;
        let mut out =
            MetricsReading { wsx_sessions: metrics.wsx_sessions.get(), ..MetricsReading::default() };
        let families = [
            metrics.publications.collect(),
            metrics.deliveries.collect(),
            metrics.acks.collect(),
            metrics.dead_letters.collect(),
            metrics.topic_depth.collect(),
        ];
        for family in families.iter().flatten() {
            let name = family.name().trim_start_matches("signalbox_");
            for m in family.get_metric() {
                let label = |wanted: &str| {
                    m.get_label().iter().find(|l| l.name() == wanted).map(|l| l.value().to_owned())
                };
                let counter = m.get_counter().get_value() as u64;
                let gauge = m.get_gauge().get_value() as i64;
                match name {
                    "publications_total" => {
                        out.published += counter;
                        if let Some(topic) = label("topic") {
                            *out.published_by_topic.entry(topic).or_default() += counter;
                        }
                    }
                    "deliveries_total" => {
                        out.delivered += counter;
                        if let Some(key) = label("sub_key") {
                            out.delivered_by_sub.insert(key, counter);
                        }
                    }
                    "acks_total" => {
                        out.acked += counter;
                        if let Some(key) = label("sub_key") {
                            out.acked_by_sub.insert(key, counter);
                        }
                    }
                    "dead_letters_total" => out.dead_lettered += counter,
                    "topic_depth" => match label("kind").as_deref() {
                        Some("gd") => out.depth_gd += gauge,
                        Some("ram") => out.depth_ram += gauge,
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        out
    }
}

/// How long [`Traffic`] keeps one rate before reading the counters again.
const RATE_WINDOW_MICROS: i64 = 5_000_000;

/// Messages in and out of one client connection, when it was last heard from, and the rates.
/// Counted by whatever serves the connection (atomics: no lock on the hot path); a rate is the
/// change over the last window of at least five seconds that ended when an admin last looked.
#[derive(Debug)]
pub struct Traffic {
    /// Microseconds since the epoch.
    pub since: i64,
    msgs_in: AtomicU64,
    msgs_out: AtomicU64,
    last_seen: AtomicI64,
    window: Mutex<RateWindow>,
}

#[derive(Debug, Default, Clone, Copy)]
struct RateWindow {
    at: i64,
    msgs_in: u64,
    msgs_out: u64,
    rates: Option<(f64, f64)>,
}

/// What admins see of a [`Traffic`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrafficFigures {
    pub since: i64,
    pub last_seen: i64,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub rate_in: f64,
    pub rate_out: f64,
}

impl Traffic {
    pub fn new(now: i64) -> Traffic {
        Traffic {
            since: now,
            msgs_in: AtomicU64::new(0),
            msgs_out: AtomicU64::new(0),
            last_seen: AtomicI64::new(now),
            window: Mutex::new(RateWindow { at: now, ..RateWindow::default() }),
        }
    }

    /// The client was heard from at `now` (µs).
    pub fn seen(&self, now: i64) {
        self.last_seen.fetch_max(now, Ordering::Relaxed);
    }

    pub fn count_in(&self, n: u64) {
        self.msgs_in.fetch_add(n, Ordering::Relaxed);
    }

    pub fn count_out(&self, n: u64) {
        self.msgs_out.fetch_add(n, Ordering::Relaxed);
    }

    pub fn last_seen(&self) -> i64 {
        self.last_seen.load(Ordering::Relaxed)
    }

    /// Counters and rates as of `now` (µs).
    pub fn figures(&self, now: i64) -> TrafficFigures {
        let (msgs_in, msgs_out) =
            (self.msgs_in.load(Ordering::Relaxed), self.msgs_out.load(Ordering::Relaxed));
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let secs = seconds_between(w.at, now);
        let (rate_in, rate_out) = if now - w.at >= RATE_WINDOW_MICROS {
            let rates = (rate(w.msgs_in, msgs_in, secs), rate(w.msgs_out, msgs_out, secs));
            *w = RateWindow { at: now, msgs_in, msgs_out, rates: Some(rates) };
            rates
        } else {
            // Within a window: the rates of the last one, or so far since the connection began.
            w.rates.unwrap_or_else(|| (rate(w.msgs_in, msgs_in, secs), rate(w.msgs_out, msgs_out, secs)))
        };
        TrafficFigures {
            since: self.since,
            last_seen: self.last_seen(),
            msgs_in,
            msgs_out,
            rate_in,
            rate_out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn node_at(secs: i64, published: u64) -> NodeSample {
        NodeSample { time: secs * S, published, depth_gd: secs, ..NodeSample::default() }
    }

    fn tick(secs: i64, published: u64, subs: &[(&str, i64, u64)]) -> Tick {
        Tick {
            node: node_at(secs, published),
            subs: subs
                .iter()
                .map(|(k, depth, delivered)| {
                    (
                        k.to_string(),
                        SubFigures { depth_gd: *depth, delivered: *delivered, ..SubFigures::default() },
                    )
                })
                .collect(),
            published_by_topic: [("/t".to_owned(), published)].into(),
        }
    }

    #[test]
    fn a_ring_keeps_the_newest_samples_up_to_its_capacity() {
        for capacity in [1, 2, 5, 720] {
            let mut ring = Ring::new(capacity);
            for i in 0..(capacity * 3 + 1) {
                ring.push(i);
                assert!(ring.len() <= capacity);
            }
            let kept: Vec<usize> = ring.iter().copied().collect();
            let expected: Vec<usize> = (capacity * 2 + 1..=capacity * 3).collect();
            assert_eq!(kept, expected, "capacity {capacity}");
        }
    }

    #[test]
    fn rates_come_from_consecutive_samples_and_ignore_counters_that_went_back() {
        let history = History::new();
        assert_eq!(history.latest(), None);
        history.record(Tick { node: node_at(95, 0), ..Tick::default() });
        history.record(tick(100, 10, &[("a", 3, 0)]));
        assert_eq!(history.topic_publish_rate("/t"), 2.0, "a new topic's series counted from 0");
        let first = history.latest().unwrap();
        assert_eq!((first.publish, first.sample.published), (2.0, 10));
        history.record(tick(105, 60, &[("a", 1, 20)]));
        let point = history.latest().unwrap();
        assert_eq!(point.publish, 10.0, "50 publications in 5 s");
        assert_eq!(history.topic_publish_rate("/t"), 10.0);
        assert_eq!(history.sub_rates("a").deliver, 4.0, "20 deliveries in 5 s");
        history.record(tick(110, 5, &[("a", 1, 20)]));
        assert_eq!(history.latest().unwrap().publish, 0.0, "a counter that went back");
    }

    #[test]
    fn series_cover_the_range_asked_at_the_ring_that_holds_it() {
        let history = History::new();
        for i in 0..(FINE_LEN as i64 + 30) {
            history.record(tick(i * 5, i as u64, &[("a", i, i as u64)]));
        }
        let now = (FINE_LEN as i64 + 29) * 5 * S;
        let hour = history.node_series(3600, now);
        assert_eq!(hour.interval, 5);
        assert_eq!(hour.points.len(), FINE_LEN - 1, "an hour of 5 s samples, each with the one before");
        let minutes = history.node_series(600, now);
        assert_eq!(minutes.points.len(), 121);
        assert!(minutes.points.iter().all(|p| p.publish == 0.2 && p.time >= now - 600 * S));
        let day = history.node_series(86_400, now);
        assert_eq!(day.interval, 60);
        assert_eq!(day.points.len(), (FINE_LEN + 30).div_ceil(COARSE_EVERY as usize) - 1);
        let sub = history.sub_series("a", 300, now);
        assert_eq!(sub.interval, 5);
        assert_eq!(sub.points.len(), SUB_FINE_LEN, "five minutes, its first sample included");
        assert_eq!(sub.points.last().unwrap().depth_gd, FINE_LEN as i64 + 29);
        let sub = history.sub_series("a", 7200, now);
        assert_eq!(sub.interval, 60);
        assert_eq!(history.sub_series("gone", 300, now).points, vec![]);
    }

    /// With samples evenly spaced (as the sampler takes them), a ring of runs holds exactly
    /// what a plain ring of samples would, for any figures and capacity.
    #[test]
    fn a_ring_of_runs_holds_what_a_ring_of_samples_would() {
        use proptest::prelude::*;
        let figures = prop::collection::vec((0u32..3, 0u32..2, 0u32..3), 0..300);
        let config = ProptestConfig { cases: 500, ..ProptestConfig::default() };
        proptest!(config, |(capacity in 1usize..130, steps in figures)| {
            let mut runs = SubRing::new(capacity);
            let mut plain = Ring::new(capacity);
            for (i, (gd, ram, delivered)) in steps.into_iter().enumerate() {
                let sample = SubSample { time: 1_000 + 5 * i as u32, depth_gd: gd, depth_ram: ram, delivered, acked: 0 };
                runs.push(sample);
                plain.push(sample);
                prop_assert_eq!(runs.samples(), plain.iter().copied().collect::<Vec<_>>());
                let mut last = plain.iter().rev();
                let expected = match (last.next(), last.next()) {
                    (Some(b), Some(a)) => Some((*a, *b)),
                    _ => None,
                };
                prop_assert_eq!(runs.last_two(), expected);
            }
        });
    }

    #[test]
    fn an_idle_subscription_keeps_one_entry_per_ring_however_long_it_is_sampled() {
        let history = History::new();
        for i in 0..(COARSE_EVERY as i64 * SUB_COARSE_LEN as i64 * 2) {
            history.record(tick(i * 5, 0, &[("idle", 7, 42)]));
        }
        let inner = history.lock();
        let idle = &inner.subs["idle"];
        assert_eq!((idle.fine.runs.len(), idle.fine.len), (1, SUB_FINE_LEN));
        assert_eq!((idle.coarse.runs.len(), idle.coarse.len), (1, SUB_COARSE_LEN));
        drop(inner);
        let now = (COARSE_EVERY as i64 * SUB_COARSE_LEN as i64 * 2 - 1) * 5 * S;
        let series = history.sub_series("idle", 300, now);
        assert_eq!(series.points.len(), SUB_FINE_LEN);
        assert!(series.points.iter().all(|p| p.depth_gd == 7 && p.deliver == 0.0));
        let times: Vec<i64> = series.points.iter().map(|p| p.time).collect();
        let expected: Vec<i64> =
            (0..SUB_FINE_LEN as i64).map(|k| now - (SUB_FINE_LEN as i64 - 1 - k) * 5 * S).collect();
        assert_eq!(times, expected, "evenly spaced samples come back at their times");
    }

    #[test]
    fn a_reading_of_the_metrics_sums_each_family_and_keeps_the_per_subscription_counters() {
        let metrics = Metrics::new();
        metrics.publications.with_label_values(&["/a", "true"]).inc_by(3);
        metrics.publications.with_label_values(&["/a", "false"]).inc_by(2);
        metrics.publications.with_label_values(&["/b", "true"]).inc_by(4);
        metrics.deliveries.with_label_values(&["k1"]).inc_by(5);
        metrics.deliveries.with_label_values(&["k2"]).inc_by(6);
        metrics.acks.with_label_values(&["k1"]).inc_by(4);
        metrics.dead_letters.with_label_values(&["k2"]).inc_by(1);
        metrics.topic_depth.with_label_values(&["/a", "gd"]).set(7);
        metrics.topic_depth.with_label_values(&["/b", "gd"]).set(1);
        metrics.topic_depth.with_label_values(&["/a", "ram"]).set(9);
        metrics.subscription_depth.with_label_values(&["k1", "gd"]).set(100);
        metrics.wsx_sessions.set(2);
        let r = MetricsReading::of(&metrics);
        assert_eq!((r.published, r.delivered, r.acked, r.dead_lettered), (9, 11, 4, 1));
        assert_eq!((r.depth_gd, r.depth_ram, r.wsx_sessions), (8, 9, 2));
        assert_eq!(r.published_by_topic, [("/a".to_owned(), 5), ("/b".to_owned(), 4)].into());
        assert_eq!(r.delivered_by_sub, [("k1".to_owned(), 5), ("k2".to_owned(), 6)].into());
        assert_eq!(r.acked_by_sub, [("k1".to_owned(), 4)].into());
    }

    #[test]
    fn a_subscription_no_longer_sampled_loses_its_history() {
        let history = History::new();
        history.record(tick(0, 0, &[("a", 1, 0), ("b", 2, 0)]));
        history.record(tick(5, 0, &[("b", 2, 0)]));
        assert!(history.sub("a").is_none());
        assert_eq!(history.sub("b").unwrap().0.depth_gd, 2);
        assert_eq!(history.subs().len(), 1);
    }

    #[test]
    fn traffic_rates_hold_for_a_window_then_follow_the_counters() {
        let t = Traffic::new(0);
        t.count_in(10);
        assert_eq!(t.figures(2 * S).rate_in, 5.0, "so far since the connection began");
        assert_eq!(t.figures(5 * S).rate_in, 2.0, "a full window: 10 in 5 s");
        t.count_in(30);
        t.count_out(3);
        assert_eq!(t.figures(7 * S).rate_in, 2.0, "the last window's rate until the next one");
        let f = t.figures(10 * S);
        assert_eq!((f.rate_in, f.rate_out, f.msgs_in, f.msgs_out), (6.0, 0.6, 40, 3));
        t.seen(12 * S);
        t.seen(11 * S);
        assert_eq!(t.figures(12 * S).last_seen, 12 * S, "last seen never goes back");
    }
}
