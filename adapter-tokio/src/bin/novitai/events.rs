//! Counts the client's engine events (logged through `tracing` by the
//! adapter) for progress bars and the demo summary: requests sent, retries,
//! breaker transitions, rate-limit waits.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

static SENT: AtomicU64 = AtomicU64::new(0);
static RETRIES: AtomicU64 = AtomicU64::new(0);
static RATE_LIMITED: AtomicU64 = AtomicU64::new(0);
static TRANSITIONS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// What has been counted so far.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Counts {
    /// Attempts sent over HTTP.
    pub requests: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Times requests had to wait for a rate limit.
    pub rate_limit_waits: u64,
    /// Breaker transitions, e.g. `closed → open`.
    pub breaker_transitions: Vec<String>,
}

/// The counts now.
pub fn counts() -> Counts {
    Counts {
        requests: SENT.load(Ordering::Relaxed),
        retries: RETRIES.load(Ordering::Relaxed),
        rate_limit_waits: RATE_LIMITED.load(Ordering::Relaxed),
        breaker_transitions: TRANSITIONS.lock().map(|t| t.clone()).unwrap_or_default(),
    }
}

/// A `tracing` layer that counts the adapter's engine events.
pub struct Counter;

#[derive(Default)]
struct Fields {
    message: String,
    from: String,
    to: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let v = format!("{value:?}");
        match field.name() {
            "message" => self.message = v,
            "from" => self.from = v,
            "to" => self.to = v,
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Counter {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if !event.metadata().target().starts_with("novitai_tokio") {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        match f.message.as_str() {
            "sending request" => {
                SENT.fetch_add(1, Ordering::Relaxed);
            }
            "retry scheduled" => {
                RETRIES.fetch_add(1, Ordering::Relaxed);
            }
            "rate limited: requests wait" => {
                RATE_LIMITED.fetch_add(1, Ordering::Relaxed);
            }
            "circuit breaker changed state" => {
                if let Ok(mut t) = TRANSITIONS.lock() {
                    t.push(format!("{} → {}", state_name(&f.from), state_name(&f.to)));
                }
            }
            _ => {}
        }
    }
}

/// `HalfOpen` → `half-open`, `Closed` → `closed`.
pub fn state_name(debug: &str) -> String {
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Installs the counter, and with `verbose` a log printer on stderr (level
/// from `RUST_LOG`-style `NOVITAI_LOG`, default `debug`).
pub fn install(verbose: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let fmt = verbose.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG)
    });
    // A second install (never done here) would fail; nothing to report.
    let _ = tracing_subscriber::registry()
        .with(Counter)
        .with(fmt)
        .try_init();
}
