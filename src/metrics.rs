//! Counters and histograms for `/metrics`, in the Prometheus text format (0.0.4).
//!
//! Hand-written rather than through a metrics crate because of where they are updated: once per
//! inbound message, per send and per transaction. Every handle is resolved when the service
//! starts (one [`ChannelMetrics`] per configured channel, arrays indexed by outcome), so the hot
//! path is an atomic add — no lock, no label map, no allocation. Gauges that describe the
//! database (backlog, dead letters) are read when scraped, not kept here.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the latency buckets: 1 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A latency histogram with the fixed [`LATENCY_BUCKETS`]. Each observation lands in one
/// bucket (cumulated when rendered); the sum is kept in microseconds so it stays an integer.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS.iter().position(|&b| secs <= b).unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// What became of an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundOutcome {
    Processed = 0,
    Failed = 1,
    /// A delivery of a message already stored and processed.
    Duplicate = 2,
}

const INBOUND_OUTCOMES: [&str; 3] = ["processed", "failed", "duplicate"];

/// What became of one send attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Sent = 0,
    Retry = 1,
    Dead = 2,
    Unknown = 3,
    /// Claimed but never handed to the platform (shutdown, lease ran out).
    Released = 4,
    /// Not for this channel (an inline image it cannot show): cancelled, never sent.
    Skipped = 5,
}

const SEND_OUTCOMES: [&str; 6] = ["sent", "retry", "dead", "unknown", "released", "skipped"];

/// One channel's counters. Handed to its outbox worker; the pipeline finds it by name.
#[derive(Debug, Default)]
pub struct ChannelMetrics {
    pub name: String,
    inbound: [Counter; 3],
    sends: [Counter; 6],
    /// Sends that had to wait for the channel's own rate limit, and how long in total.
    pub rate_limit_waits: Counter,
    pub rate_limit_wait_micros: Counter,
    /// Answers claimed by the transaction that queued them and handed to the worker directly.
    pub handed: Counter,
}

impl ChannelMetrics {
    pub fn inbound(&self, o: InboundOutcome) {
        self.inbound[o as usize].inc();
    }
    pub fn inbound_count(&self, o: InboundOutcome) -> u64 {
        self.inbound[o as usize].get()
    }
    pub fn send(&self, o: SendOutcome) {
        self.sends[o as usize].inc();
    }
    pub fn send_count(&self, o: SendOutcome) -> u64 {
        self.sends[o as usize].get()
    }
}

/// What a scheduler tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FiringOutcome {
    Fired = 0,
    Skipped = 1,
    Failed = 2,
}

const FIRING_OUTCOMES: [&str; 3] = ["fired", "skipped", "failed"];

/// Every counter of one running service (not process-wide: tests run several services in one
/// process, each with its own).
#[derive(Debug)]
pub struct Metrics {
    channels: Vec<Arc<ChannelMetrics>>,
    /// For messages naming a channel this service does not run (should not happen).
    other: Arc<ChannelMetrics>,
    /// From the moment the pipeline takes a message until the transaction holding it commits.
    pub processing: Histogram,
    /// Write transactions, from `BEGIN IMMEDIATE` to the end of `COMMIT`.
    pub db_transactions: Arc<Histogram>,
    firings: [Counter; 3],
    /// Passes of the admin-alert monitor (it is alive while this grows).
    pub alert_checks: Counter,
    /// Unix milliseconds of the last completed scheduler tick; 0: none yet.
    last_tick_ms: AtomicI64,
}

impl Metrics {
    pub fn new<I: IntoIterator<Item = String>>(channels: I) -> Metrics {
        let channels =
            channels.into_iter().map(|name| Arc::new(ChannelMetrics { name, ..Default::default() })).collect();
        Metrics {
            channels,
            other: Arc::new(ChannelMetrics { name: "(other)".into(), ..Default::default() }),
            processing: Histogram::default(),
            db_transactions: Arc::new(Histogram::default()),
            firings: Default::default(),
            alert_checks: Counter::default(),
            last_tick_ms: AtomicI64::new(0),
        }
    }

    /// The counters of channel `name` (a short linear search: a service runs a handful).
    pub fn channel(&self, name: &str) -> &Arc<ChannelMetrics> {
        self.channels.iter().find(|c| c.name == name).unwrap_or(&self.other)
    }

    pub fn firing(&self, o: FiringOutcome, n: usize) {
        self.firings[o as usize].add(n as u64);
    }

    pub fn ticked(&self, at: chrono::DateTime<chrono::Utc>) {
        self.last_tick_ms.store(at.timestamp_millis(), Ordering::Relaxed);
    }

    pub fn last_tick(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self.last_tick_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => chrono::DateTime::from_timestamp_millis(ms),
        }
    }

    /// The counters and histograms in the text format (the caller appends its gauges).
    pub fn render(&self, out: &mut Text) {
        let all: Vec<&Arc<ChannelMetrics>> = self
            .channels
            .iter()
            // The catch-all appears only once something was counted under it.
            .chain(std::iter::once(&self.other).filter(|c| has_any(c)))
            .collect();
        out.family("dudao_inbound_messages_total", "counter", "Inbound messages by channel and outcome.");
        for c in &all {
            for (i, o) in INBOUND_OUTCOMES.iter().enumerate() {
                out.sample(
                    "dudao_inbound_messages_total",
                    &[("channel", &c.name), ("outcome", o)],
                    c.inbound[i].get() as f64,
                );
            }
        }
        out.histogram(
            "dudao_inbound_processing_seconds",
            "From the pipeline taking an inbound message to the commit of its transaction.",
            &self.processing,
        );
        out.family(
            "dudao_outbox_sends_total",
            "counter",
            "Send attempts by channel and outcome (retry: deferred and retried later).",
        );
        for c in &all {
            for (i, o) in SEND_OUTCOMES.iter().enumerate() {
                out.sample(
                    "dudao_outbox_sends_total",
                    &[("channel", &c.name), ("outcome", o)],
                    c.sends[i].get() as f64,
                );
            }
        }
        out.family(
            "dudao_outbox_handed_total",
            "counter",
            "Answers claimed by the transaction that queued them and handed to the worker directly.",
        );
        for c in &all {
            out.sample("dudao_outbox_handed_total", &[("channel", &c.name)], c.handed.get() as f64);
        }
        out.family("dudao_outbox_rate_limit_waits_total", "counter", "Sends that waited for the channel's rate limit.");
        for c in &all {
            out.sample("dudao_outbox_rate_limit_waits_total", &[("channel", &c.name)], c.rate_limit_waits.get() as f64);
        }
        out.family(
            "dudao_outbox_rate_limit_wait_seconds_total",
            "counter",
            "Time sends spent waiting for the channel's rate limit.",
        );
        for c in &all {
            let secs = c.rate_limit_wait_micros.get() as f64 / 1e6;
            out.sample("dudao_outbox_rate_limit_wait_seconds_total", &[("channel", &c.name)], secs);
        }
        out.family("dudao_scheduler_firings_total", "counter", "Schedule occurrences by outcome.");
        for (i, o) in FIRING_OUTCOMES.iter().enumerate() {
            out.sample("dudao_scheduler_firings_total", &[("outcome", o)], self.firings[i].get() as f64);
        }
        if let Some(t) = self.last_tick() {
            out.family("dudao_scheduler_last_tick_timestamp_seconds", "gauge", "When the scheduler last ticked.");
            out.sample("dudao_scheduler_last_tick_timestamp_seconds", &[], t.timestamp_millis() as f64 / 1e3);
        }
        out.family("dudao_alert_checks_total", "counter", "Passes of the admin-alert monitor.");
        out.sample("dudao_alert_checks_total", &[], self.alert_checks.get() as f64);
        out.histogram(
            "dudao_db_transaction_seconds",
            "Write transactions, from BEGIN IMMEDIATE to the end of COMMIT.",
            &self.db_transactions,
        );
    }
}

fn has_any(c: &ChannelMetrics) -> bool {
    c.inbound.iter().chain(c.sends.iter()).any(|n| n.get() > 0)
}

/// A Prometheus text exposition being written.
#[derive(Debug, Default)]
pub struct Text(String);

impl Text {
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }

    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += h.buckets[i].load(Ordering::Relaxed);
            self.sample(&bucket, &[("le", &number(*b))], cumulative as f64);
        }
        cumulative += h.buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
        self.sample(&bucket, &[("le", "+Inf")], cumulative as f64);
        self.sample(&format!("{name}_sum"), &[], h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        // The count is the sum of the buckets as read, so the two always agree in one scrape.
        self.sample(&format!("{name}_count"), &[], cumulative as f64);
    }

    pub fn finish(self) -> String {
        self.0
    }
}

/// A label value with `\`, `"` and newlines escaped as the text format requires.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A sample value: integers without a fraction, the rest in Rust's shortest round-trip form.
fn number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_agree_with_the_count() {
        let m = Metrics::new(["qq".to_string()]);
        m.processing.observe(Duration::from_micros(500));
        m.processing.observe(Duration::from_millis(30));
        m.processing.observe(Duration::from_secs(20));
        let mut t = Text::default();
        m.render(&mut t);
        let text = t.finish();
        assert!(text.contains("dudao_inbound_processing_seconds_bucket{le=\"0.001\"} 1\n"), "{text}");
        assert!(text.contains("dudao_inbound_processing_seconds_bucket{le=\"0.025\"} 1\n"), "{text}");
        assert!(text.contains("dudao_inbound_processing_seconds_bucket{le=\"0.05\"} 2\n"), "{text}");
        assert!(text.contains("dudao_inbound_processing_seconds_bucket{le=\"10\"} 2\n"), "{text}");
        assert!(text.contains("dudao_inbound_processing_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("dudao_inbound_processing_seconds_count 3\n"), "{text}");
        assert!(text.contains("dudao_inbound_processing_seconds_sum 20.0305\n"), "{text}");
    }

    #[test]
    fn counters_per_channel_and_outcome() {
        let m = Metrics::new(["qq".to_string(), "值班\"群".to_string()]);
        m.channel("qq").inbound(InboundOutcome::Processed);
        m.channel("qq").inbound(InboundOutcome::Processed);
        m.channel("qq").send(SendOutcome::Dead);
        m.channel("值班\"群").inbound(InboundOutcome::Failed);
        let mut t = Text::default();
        m.render(&mut t);
        let text = t.finish();
        assert!(text.contains("dudao_inbound_messages_total{channel=\"qq\",outcome=\"processed\"} 2\n"), "{text}");
        assert!(text.contains("dudao_inbound_messages_total{channel=\"值班\\\"群\",outcome=\"failed\"} 1\n"), "{text}");
        assert!(text.contains("dudao_outbox_sends_total{channel=\"qq\",outcome=\"dead\"} 1\n"), "{text}");
        // Nothing counted under an unknown channel: no "other" series.
        assert!(!text.contains("channel=\"(other)\""), "{text}");
        m.channel("不存在").inbound(InboundOutcome::Duplicate);
        let mut t = Text::default();
        m.render(&mut t);
        assert!(t.finish().contains("dudao_inbound_messages_total{channel=\"(other)\",outcome=\"duplicate\"} 1\n"));
    }

    #[test]
    fn label_values_and_numbers() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
