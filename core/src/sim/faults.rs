//! The seeded fault plan: what goes wrong between the client and the model.
//!
//! A [`FaultPlan`] is pure configuration (probabilities, ranges, outage
//! windows). [`FaultState`] applies it request by request, drawing from its own
//! [`Rng`] stream: it draws the same number of values for every request whatever
//! the request is, so adding a request type to a scenario never shifts which
//! later requests are faulted.
//!
//! Knobs and their meaning:
//!
//! | knob (CLI key) | meaning |
//! |---|---|
//! | `server_error` (`5xx`) | fraction of requests answered 500/502/503/504 overall; they come in bursts |
//! | `burst` (`burst=A..B`) | length of a 5xx burst, in consecutive requests |
//! | `rate_limit` (`429`) | fraction answered 429 `RATE_LIMIT_EXCEEDED` |
//! | `retry_after` (`retry-after=A..B`) | the `Retry-After` delta-seconds sent with a 429 |
//! | `retry_after_probability` (`retry-after-p`) | how often a 429 carries `Retry-After` at all |
//! | `reset` (`reset`) | fraction of connections reset (no response) |
//! | `hang` (`hang`) | fraction of requests never answered |
//! | `truncate` (`truncate`) | fraction of responses whose body is cut short or garbled |
//! | `outages` (`outage=START+LEN`, repeatable) | windows, measured from the simulator's start, where every request is a 503 or a reset |
//! | `latency` (`latency=A..B`) | uniform latency of every answer |
//! | `slow` (`slow=P@MAX`) | with probability P an answer is slow: latency uniform in (latency max, MAX] |

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::time::Duration;

/// An inclusive range of durations `min..=max`.
///
/// # Default
/// `0 ms ..= 0 ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationRange {
    /// The shortest value.
    pub min: Duration,
    /// The longest value.
    pub max: Duration,
}

impl DurationRange {
    /// `min..=max`.
    #[must_use]
    pub const fn new(min: Duration, max: Duration) -> DurationRange {
        DurationRange { min, max }
    }

    /// `lo..=hi` seconds.
    #[must_use]
    pub const fn secs(lo: u64, hi: u64) -> DurationRange {
        DurationRange::new(Duration::from_secs(lo), Duration::from_secs(hi))
    }

    /// A uniform draw from the range (bounds swapped if reversed).
    pub fn draw(self, rng: &mut Rng) -> Duration {
        Duration::from_millis(rng.range_inclusive(self.min.as_millis(), self.max.as_millis()))
    }

    /// The midpoint, used to turn an overall rate into a burst-start rate.
    #[must_use]
    pub fn mean_millis(self) -> f64 {
        (self.min.as_millis() as f64 + self.max.as_millis() as f64) / 2.0
    }
}

/// A window in which the API is down: every request is answered 503 or reset.
///
/// # Default
/// Starts at 0 s, lasts 0 s (no outage).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    /// When the outage begins, measured from the simulator's start.
    pub start: Duration,
    /// How long it lasts.
    pub length: Duration,
}

impl Outage {
    /// `true` when `since_start` falls in `[start, start + length)`.
    #[must_use]
    pub fn contains(&self, since_start: Duration) -> bool {
        since_start >= self.start && since_start < self.start.saturating_add(self.length)
    }
}

/// What can go wrong, and how often.
///
/// # Default
/// [`FaultPlan::none`]: no faults, latency 0 ms; bursts 1–4 requests long,
/// `Retry-After` 1–5 s on every 429 (only used when a rate is raised).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Overall fraction of requests answered with a 5xx (500/502/503/504).
    pub server_error: f64,
    /// Length of a run of 5xx answers, in requests.
    pub burst: (u32, u32),
    /// Fraction of requests answered 429.
    pub rate_limit: f64,
    /// `Retry-After` (whole seconds) sent with a 429.
    pub retry_after: DurationRange,
    /// Probability that a 429 carries `Retry-After` at all.
    pub retry_after_probability: f64,
    /// Fraction of requests whose connection is reset.
    pub reset: f64,
    /// Fraction of requests never answered.
    pub hang: f64,
    /// Fraction of responses cut short or garbled.
    pub truncate: f64,
    /// Outage windows.
    pub outages: Vec<Outage>,
    /// Latency of every answer.
    pub latency: DurationRange,
    /// Probability that an answer is slow.
    pub slow: f64,
    /// The longest slow answer (slow latency is uniform in (latency.max, slow_max]).
    pub slow_max: Duration,
}

impl Default for FaultPlan {
    fn default() -> FaultPlan {
        FaultPlan::none()
    }
}

impl FaultPlan {
    /// No faults and no latency: the simulator answers every request at once.
    #[must_use]
    pub fn none() -> FaultPlan {
        FaultPlan {
            server_error: 0.0,
            burst: (1, 4),
            rate_limit: 0.0,
            retry_after: DurationRange::secs(1, 5),
            retry_after_probability: 1.0,
            reset: 0.0,
            hang: 0.0,
            truncate: 0.0,
            outages: Vec::new(),
            latency: DurationRange::default(),
            slow: 0.0,
            slow_max: Duration::ZERO,
        }
    }

    /// Moderate trouble for demos: 5% 5xx in bursts of 1–4, 2% 429 (Retry-After
    /// 1–5 s, sent 75% of the time), 1% resets, 0.5% hangs, 0.5% truncated
    /// bodies, latency 50–400 ms with 1% slow answers up to 5 s, and one 45 s
    /// outage starting 2 min after start.
    #[must_use]
    pub fn default_demo() -> FaultPlan {
        FaultPlan {
            server_error: 0.05,
            burst: (1, 4),
            rate_limit: 0.02,
            retry_after: DurationRange::secs(1, 5),
            retry_after_probability: 0.75,
            reset: 0.01,
            hang: 0.005,
            truncate: 0.005,
            outages: alloc::vec![Outage {
                start: Duration::from_secs(120),
                length: Duration::from_secs(45),
            }],
            latency: DurationRange::new(Duration::from_millis(50), Duration::from_millis(400)),
            slow: 0.01,
            slow_max: Duration::from_secs(5),
        }
    }

    /// Checks every knob; [`crate::sim::Simulator::new`] calls this.
    ///
    /// # Errors
    /// A [`FaultPlanError`] naming the first knob out of range.
    pub fn validate(&self) -> Result<(), FaultPlanError> {
        let probs = [
            ("5xx", self.server_error),
            ("429", self.rate_limit),
            ("retry-after-p", self.retry_after_probability),
            ("reset", self.reset),
            ("hang", self.hang),
            ("truncate", self.truncate),
            ("slow", self.slow),
        ];
        for (key, p) in probs {
            if !(0.0..=1.0).contains(&p) {
                return Err(FaultPlanError::BadProbability {
                    key: key.to_string(),
                    value: p.to_string(),
                });
            }
        }
        if self.burst.0 == 0 || self.burst.0 > self.burst.1 || self.burst.1 > 1000 {
            return Err(FaultPlanError::BadRange {
                key: "burst".to_string(),
                value: alloc::format!("{}..{}", self.burst.0, self.burst.1),
            });
        }
        for (key, r) in [("retry-after", self.retry_after), ("latency", self.latency)] {
            if r.min > r.max {
                return Err(FaultPlanError::BadRange {
                    key: key.to_string(),
                    value: alloc::format!("{}..{}", r.min, r.max),
                });
            }
        }
        let sum = self.burst_start_probability()
            + self.rate_limit
            + self.reset
            + self.hang
            + self.truncate;
        if sum > 1.0 {
            return Err(FaultPlanError::TooManyFaults { sum });
        }
        Ok(())
    }

    /// The probability that a request outside a burst starts one, chosen so
    /// that the overall 5xx fraction is about [`Self::server_error`].
    #[must_use]
    pub fn burst_start_probability(&self) -> f64 {
        let mean = (f64::from(self.burst.0) + f64::from(self.burst.1)) / 2.0;
        if mean <= 0.0 {
            return 0.0;
        }
        // In steady state a fraction s·L/(1 + s·(L − 1)) of requests is in a
        // burst; solve for s.
        let p = self.server_error.clamp(0.0, 0.999);
        p / (mean - p * (mean - 1.0))
    }

    /// Parses a compact plan such as
    /// `"5xx=0.05,429=0.02,reset=0.01,hang=0.005,outage=120s+45s,latency=50ms..400ms"`.
    ///
    /// Keys: `5xx`, `429`, `reset`, `hang`, `truncate`, `retry-after-p`
    /// (probabilities 0–1); `burst=A..B` (requests); `retry-after=A..B`,
    /// `latency=A..B` (durations); `slow=P@MAX`; `outage=START+LEN` (may
    /// repeat). Durations need a unit: `ms`, `s`, `m` or `h`. The whole string
    /// may also be `none` (or empty) or `demo` ([`Self::default_demo`]). Unset
    /// knobs keep their [`Self::none`] values.
    ///
    /// # Errors
    /// A [`FaultPlanError`] naming the bad key or value.
    pub fn parse(s: &str) -> Result<FaultPlan, FaultPlanError> {
        let s = s.trim();
        match s {
            "" | "none" => return Ok(FaultPlan::none()),
            "demo" => return Ok(FaultPlan::default_demo()),
            _ => {}
        }
        let mut plan = FaultPlan::none();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(FaultPlanError::MissingValue {
                    key: item.to_string(),
                });
            };
            let (key, value) = (key.trim(), value.trim());
            let prob = || parse_probability(key, value);
            match key {
                "5xx" => plan.server_error = prob()?,
                "429" => plan.rate_limit = prob()?,
                "reset" => plan.reset = prob()?,
                "hang" => plan.hang = prob()?,
                "truncate" => plan.truncate = prob()?,
                "retry-after-p" => plan.retry_after_probability = prob()?,
                "burst" => {
                    let (a, b) = value.split_once("..").unwrap_or((value, value));
                    let bad = || FaultPlanError::BadRange {
                        key: key.to_string(),
                        value: value.to_string(),
                    };
                    let a: u32 = a.trim().parse().map_err(|_| bad())?;
                    let b: u32 = b.trim().parse().map_err(|_| bad())?;
                    plan.burst = (a, b);
                }
                "retry-after" => plan.retry_after = parse_range(key, value)?,
                "latency" => plan.latency = parse_range(key, value)?,
                "slow" => {
                    let Some((p, max)) = value.split_once('@') else {
                        return Err(FaultPlanError::BadRange {
                            key: key.to_string(),
                            value: value.to_string(),
                        });
                    };
                    plan.slow = parse_probability(key, p.trim())?;
                    plan.slow_max = parse_duration(key, max.trim())?;
                }
                "outage" => {
                    let Some((start, len)) = value.split_once('+') else {
                        return Err(FaultPlanError::BadRange {
                            key: key.to_string(),
                            value: value.to_string(),
                        });
                    };
                    plan.outages.push(Outage {
                        start: parse_duration(key, start.trim())?,
                        length: parse_duration(key, len.trim())?,
                    });
                }
                _ => {
                    return Err(FaultPlanError::UnknownKey {
                        key: key.to_string(),
                    });
                }
            }
        }
        plan.validate()?;
        Ok(plan)
    }
}

fn parse_probability(key: &str, value: &str) -> Result<f64, FaultPlanError> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(FaultPlanError::BadProbability {
            key: key.to_string(),
            value: value.to_string(),
        }),
    }
}

fn parse_range(key: &str, value: &str) -> Result<DurationRange, FaultPlanError> {
    let (a, b) = value.split_once("..").unwrap_or((value, value));
    let range = DurationRange::new(
        parse_duration(key, a.trim())?,
        parse_duration(key, b.trim())?,
    );
    if range.min > range.max {
        return Err(FaultPlanError::BadRange {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(range)
}

/// Parses `250ms`, `45s`, `2m`, `1h` (whole numbers, unit required).
fn parse_duration(key: &str, value: &str) -> Result<Duration, FaultPlanError> {
    let bad = || FaultPlanError::BadDuration {
        key: key.to_string(),
        value: value.to_string(),
    };
    let split = value.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = value.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_mins(n)),
        "h" => Ok(Duration::from_mins(n.saturating_mul(60))),
        _ => Err(bad()),
    }
}

/// Why a fault plan was rejected.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultPlanError {
    /// A key the parser does not know.
    UnknownKey {
        /// The key as written.
        key: String,
    },
    /// An item without `=value`.
    MissingValue {
        /// The item as written.
        key: String,
    },
    /// A probability outside 0–1 or not a number.
    BadProbability {
        /// The knob.
        key: String,
        /// The value as written.
        value: String,
    },
    /// A duration that is not a whole number with a unit.
    BadDuration {
        /// The knob.
        key: String,
        /// The value as written.
        value: String,
    },
    /// A range that is malformed or whose low end exceeds its high end.
    BadRange {
        /// The knob.
        key: String,
        /// The value as written.
        value: String,
    },
    /// The per-request fault probabilities add up to more than 1.
    TooManyFaults {
        /// Burst-start + 429 + reset + hang + truncate probabilities.
        sum: f64,
    },
}

impl fmt::Display for FaultPlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultPlanError::UnknownKey { key } => write!(
                f,
                "unknown fault key `{key}`; use 5xx, 429, reset, hang, truncate, retry-after-p, burst, retry-after, latency, slow or outage"
            ),
            FaultPlanError::MissingValue { key } => {
                write!(f, "fault item `{key}` has no value; write it as key=value")
            }
            FaultPlanError::BadProbability { key, value } => write!(
                f,
                "fault `{key}` is `{value}`; it must be a probability between 0 and 1, e.g. 0.05"
            ),
            FaultPlanError::BadDuration { key, value } => write!(
                f,
                "fault `{key}` has duration `{value}`; write a whole number with a unit ms, s, m or h, e.g. 45s"
            ),
            FaultPlanError::BadRange { key, value } => write!(
                f,
                "fault `{key}` has range `{value}`; write LOW..HIGH with LOW <= HIGH (burst: 1..1000 requests; slow: P@MAX; outage: START+LEN)"
            ),
            FaultPlanError::TooManyFaults { sum } => write!(
                f,
                "the fault probabilities (5xx burst starts, 429, reset, hang, truncate) add up to {sum:.3}; they must add up to at most 1"
            ),
        }
    }
}

/// What the fault layer does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Let the model answer.
    Pass,
    /// Answer with this 5xx status.
    ServerError(u16),
    /// Answer 429, with `Retry-After` in seconds if `Some`.
    RateLimited(Option<u64>),
    /// Reset the connection.
    Reset,
    /// Never answer.
    Hang,
    /// Let the model answer on a scratch copy, then damage the body.
    Truncate {
        /// Garble bytes instead of cutting.
        garble: bool,
        /// Noise for where to cut / what to garble.
        noise: u64,
    },
    /// Inside an outage window: 503 (`false`) or reset (`true`).
    Outage {
        /// Reset rather than 503.
        reset: bool,
    },
}

/// The fault plan in motion: its own random stream and the current burst.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct FaultState {
    plan: FaultPlan,
    rng: Rng,
    latency_rng: Rng,
    burst_left: u32,
    burst_status: u16,
}

const FIVE_XX: [u16; 4] = [500, 502, 503, 504];

impl FaultState {
    pub(crate) fn new(plan: FaultPlan, rng: Rng, latency_rng: Rng) -> FaultState {
        FaultState {
            plan,
            rng,
            latency_rng,
            burst_left: 0,
            burst_status: 503,
        }
    }

    pub(crate) fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Puts `plan` in force from the next request on; the random streams go
    /// on where they were, and a 5xx burst in progress ends.
    pub(crate) fn set_plan(&mut self, plan: FaultPlan) {
        self.plan = plan;
        self.burst_left = 0;
    }

    /// The latency of one answer and whether it was a slow one. Always draws
    /// two values.
    pub(crate) fn latency(&mut self) -> (Duration, bool) {
        let base = self.plan.latency.draw(&mut self.latency_rng);
        let slow_draw = self.latency_rng.next_f64();
        let tail = self.latency_rng.next_u64();
        if slow_draw < self.plan.slow && self.plan.slow_max > self.plan.latency.max {
            let lo = self.plan.latency.max.as_millis().saturating_add(1);
            let hi = self.plan.slow_max.as_millis();
            let span = hi.saturating_sub(lo).saturating_add(1);
            return (Duration::from_millis(lo.saturating_add(tail % span)), true);
        }
        (base, false)
    }

    /// Decides the fate of one request arriving `since_start` after the
    /// simulator began. Always draws exactly three values.
    pub(crate) fn decide(&mut self, since_start: Duration) -> Decision {
        let u = self.rng.next_f64();
        let a = self.rng.next_u64();
        let b = self.rng.next_u64();
        if self.plan.outages.iter().any(|o| o.contains(since_start)) {
            return Decision::Outage { reset: a % 2 == 1 };
        }
        if self.burst_left > 0 {
            self.burst_left -= 1;
            return Decision::ServerError(self.burst_status);
        }
        let p = &self.plan;
        let mut edge = p.burst_start_probability();
        if u < edge {
            let (lo, hi) = p.burst;
            let len =
                lo.saturating_add((a % u64::from(hi.saturating_sub(lo).saturating_add(1))) as u32);
            self.burst_left = len.saturating_sub(1);
            self.burst_status = FIVE_XX.get((b % 4) as usize).copied().unwrap_or(503);
            return Decision::ServerError(self.burst_status);
        }
        edge += p.rate_limit;
        if u < edge {
            let with_header =
                (b >> 11) as f64 * (1.0 / (1u64 << 53) as f64) < p.retry_after_probability;
            let lo = p.retry_after.min.as_secs();
            let hi = p.retry_after.max.as_secs().max(lo);
            let secs = lo.saturating_add(a % hi.saturating_sub(lo).saturating_add(1));
            return Decision::RateLimited(with_header.then_some(secs));
        }
        edge += p.reset;
        if u < edge {
            return Decision::Reset;
        }
        edge += p.hang;
        if u < edge {
            return Decision::Hang;
        }
        edge += p.truncate;
        if u < edge {
            return Decision::Truncate {
                garble: a % 2 == 1,
                noise: b,
            };
        }
        Decision::Pass
    }
}

/// Damages a body: cut it short (keeping 0..len−1 bytes) or overwrite a few
/// bytes with junk that is not valid UTF-8 or JSON.
pub(crate) fn damage(body: &mut Vec<u8>, garble: bool, noise: u64) {
    if body.is_empty() {
        if garble {
            body.extend_from_slice(b"\xff\xfe{");
        }
        return;
    }
    let len = body.len() as u64;
    if garble {
        let mut r = Rng::new(noise);
        let hits = (len / 16).clamp(1, 32);
        for _ in 0..hits {
            let at = (r.next_u64() % len) as usize;
            if let Some(byte) = body.get_mut(at) {
                *byte = 0xC0 | (r.next_u32() as u8 & 0x3F) | 0x80;
            }
        }
        // Make sure a JSON parser fails even if the hits landed in strings.
        if let Some(first) = body.first_mut() {
            *first = 0xFF;
        }
    } else {
        body.truncate((noise % len) as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_every_key() {
        let p = FaultPlan::parse(
            "5xx=0.05, 429=0.02,reset=0.01,hang=0.005,truncate=0.01,outage=120s+45s,outage=10m+1m,latency=50ms..400ms,burst=2..6,retry-after=1s..9s,retry-after-p=0.5,slow=0.01@5s",
        )
        .unwrap();
        assert_eq!(p.server_error, 0.05);
        assert_eq!(p.rate_limit, 0.02);
        assert_eq!(p.reset, 0.01);
        assert_eq!(p.hang, 0.005);
        assert_eq!(p.truncate, 0.01);
        assert_eq!(p.burst, (2, 6));
        assert_eq!(p.retry_after, DurationRange::secs(1, 9));
        assert_eq!(p.retry_after_probability, 0.5);
        assert_eq!(p.slow, 0.01);
        assert_eq!(p.slow_max, Duration::from_secs(5));
        assert_eq!(
            p.latency,
            DurationRange::new(Duration::from_millis(50), Duration::from_millis(400))
        );
        assert_eq!(
            p.outages,
            alloc::vec![
                Outage {
                    start: Duration::from_secs(120),
                    length: Duration::from_secs(45)
                },
                Outage {
                    start: Duration::from_mins(10),
                    length: Duration::from_mins(1)
                },
            ]
        );
        assert_eq!(FaultPlan::parse("none").unwrap(), FaultPlan::none());
        assert_eq!(FaultPlan::parse("").unwrap(), FaultPlan::none());
        assert_eq!(FaultPlan::parse("demo").unwrap(), FaultPlan::default_demo());
        assert_eq!(
            FaultPlan::parse("latency=20ms").unwrap().latency.max,
            Duration::from_millis(20)
        );
    }

    #[test]
    fn parse_rejects_bad_strings_with_typed_errors() {
        type Check = fn(&FaultPlanError) -> bool;
        let cases: &[(&str, Check)] = &[
            (
                "5xx=2",
                |e| matches!(e, FaultPlanError::BadProbability { key, .. } if key == "5xx"),
            ),
            ("429=abc", |e| {
                matches!(e, FaultPlanError::BadProbability { .. })
            }),
            ("hang=-0.1", |e| {
                matches!(e, FaultPlanError::BadProbability { .. })
            }),
            ("reset=NaN", |e| {
                matches!(e, FaultPlanError::BadProbability { .. })
            }),
            (
                "boom=0.1",
                |e| matches!(e, FaultPlanError::UnknownKey { key } if key == "boom"),
            ),
            ("5xx", |e| matches!(e, FaultPlanError::MissingValue { .. })),
            ("outage=120+45s", |e| {
                matches!(e, FaultPlanError::BadDuration { .. })
            }),
            ("outage=120s", |e| {
                matches!(e, FaultPlanError::BadRange { .. })
            }),
            ("latency=400ms..50ms", |e| {
                matches!(e, FaultPlanError::BadRange { .. })
            }),
            ("latency=5parsecs", |e| {
                matches!(e, FaultPlanError::BadDuration { .. })
            }),
            ("burst=0..3", |e| {
                matches!(e, FaultPlanError::BadRange { .. })
            }),
            ("burst=x", |e| matches!(e, FaultPlanError::BadRange { .. })),
            ("slow=0.1", |e| matches!(e, FaultPlanError::BadRange { .. })),
            ("reset=0.6,hang=0.6", |e| {
                matches!(e, FaultPlanError::TooManyFaults { .. })
            }),
        ];
        for (s, check) in cases {
            let err = FaultPlan::parse(s).unwrap_err();
            assert!(check(&err), "{s}: {err:?}");
            assert!(!alloc::format!("{err}").is_empty());
        }
        let msg = alloc::format!("{}", FaultPlan::parse("5xx=2").unwrap_err());
        assert!(
            msg.contains("5xx") && msg.contains('2') && msg.contains("between 0 and 1"),
            "{msg}"
        );
    }

    #[test]
    fn outage_windows_are_half_open() {
        let o = Outage {
            start: Duration::from_secs(120),
            length: Duration::from_secs(45),
        };
        assert!(!o.contains(Duration::from_millis(119_999)));
        assert!(o.contains(Duration::from_secs(120)));
        assert!(o.contains(Duration::from_millis(164_999)));
        assert!(!o.contains(Duration::from_secs(165)));
    }

    #[test]
    fn damage_cuts_or_garbles() {
        let original = br#"{"id":"0123456789abcdef"}"#.to_vec();
        let mut cut = original.clone();
        damage(&mut cut, false, 7);
        assert_eq!(cut.len(), 7);
        let mut garbled = original.clone();
        damage(&mut garbled, true, 7);
        assert_eq!(garbled.len(), original.len());
        assert!(serde_json::from_slice::<serde_json::Value>(&garbled).is_err());
        let mut empty = Vec::new();
        damage(&mut empty, false, 3);
        assert!(empty.is_empty());
    }
}
