//! The fleet module against a real redis-server (started by
//! `scripts/redis.sh`, which exports `REDIS_URL`). Without `REDIS_URL` the
//! tests that need Redis fail with a message saying how to run them.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use novitai_tokio::core::Duration as CoreDuration;
use novitai_tokio::core::limiter::{GcraConfig, gcra_step};
use novitai_tokio::core::webhook::{
    Jitter, Notification, NotificationStatus, Schedule, Signer, UrlPolicy, WebhookKey,
};
use novitai_tokio::fleet::{
    FailMode, FleetError, FleetOptions, RedisGcra, RedisOutbox, spawn_reclaimer,
};
use novitai_tokio::webhook::{DeliveryOutcome, Outbox, SenderConfig, WebhookSender};
use proptest::prelude::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;
use common::receiver::{GatedReceiver, wait_for};

fn redis_url() -> String {
    std::env::var("REDIS_URL").expect(
        "REDIS_URL is not set: run `eval \"$(bash scripts/redis.sh start)\"` first (scripts/test.sh does)",
    )
}

/// A key prefix of its own per test (tests share one Redis).
fn prefix(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "test:{}:{}:{}",
        std::process::id(),
        name,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn opts(name: &str) -> FleetOptions {
    FleetOptions {
        prefix: prefix(name),
        ..FleetOptions::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------- limiter

#[derive(Debug, Clone)]
struct Trace {
    cells: u64,
    period_ms: u64,
    burst: u64,
    start: u64,
    steps: Vec<(u64, u64)>, // (time advance in µs, n)
}

fn trace() -> impl Strategy<Value = Trace> {
    (1u64..200, 1u64..120_000, 1u64..20, 0u64..(1u64 << 51)).prop_flat_map(
        |(cells, period_ms, burst, start)| {
            let period_ms = period_ms.max(cells.div_ceil(1000));
            proptest::collection::vec(
                (0u64..3 * period_ms * 1000 / cells.max(1) + 1, 1u64..=burst),
                1..40,
            )
            .prop_map(move |steps| Trace {
                cells,
                period_ms,
                burst,
                start,
                steps,
            })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every decision of the Lua script equals core's `gcra_step` on the same
    /// trace (both run, state carried separately).
    #[test]
    fn the_lua_script_and_gcra_step_agree_on_random_traces(tr in trace()) {
        let rt = runtime();
        let url = redis_url();
        rt.block_on(async {
            let cfg = GcraConfig { cells: tr.cells, period: CoreDuration::from_millis(tr.period_ms), burst: tr.burst };
            let g = novitai_tokio::core::limiter::Gcra::new(cfg).unwrap();
            let (t, tau) = (g.emission_interval_ticks(), g.delay_tolerance_ticks());
            let lim = RedisGcra::new(&url, cfg, opts("prop")).unwrap();
            let mut tat = 0u64;
            let mut now = tr.start;
            for (dt, n) in &tr.steps {
                now += dt;
                let want = gcra_step(tat, now, t, tau, *n);
                let got = lim.step_at("k", *n, now).await.unwrap();
                prop_assert_eq!(got, want, "now={} n={} tat={} T={} tau={}", now, n, tat, t, tau);
                if let Ok(v) = want { tat = v; }
            }
            Ok(())
        })?;
    }
}

#[test]
fn the_script_works_at_the_edge_of_exact_doubles() {
    let rt = runtime();
    rt.block_on(async {
        let cfg = GcraConfig::per_second(3).with_burst(2);
        let lim = RedisGcra::new(&redis_url(), cfg, opts("edge")).unwrap();
        // 2^53 − 2^51: sums up to τ ahead stay below 2^53 and exact.
        let now = (1u64 << 53) - (1u64 << 51) + 12_345;
        let (t, tau) = (333_334, 666_668);
        let mut tat = 0;
        for k in 0..5u64 {
            let at = now + k * 100_001;
            let want = gcra_step(tat, at, t, tau, 1);
            assert_eq!(lim.step_at("k", 1, at).await.unwrap(), want);
            if let Ok(v) = want {
                tat = v;
            }
        }
    });
}

#[test]
fn a_configuration_beyond_exact_doubles_is_refused() {
    let rt = runtime();
    rt.block_on(async {
        let cfg = GcraConfig::per_period(1, CoreDuration::from_secs(40 * 365 * 86_400));
        let err = RedisGcra::new(&redis_url(), cfg, opts("cfg")).unwrap_err();
        assert!(matches!(err, FleetError::Config(_)), "{err}");
        assert!(err.to_string().contains("35 years"), "{err}");
        let lim = RedisGcra::new(&redis_url(), GcraConfig::per_second(5), opts("cfg")).unwrap();
        assert!(matches!(
            lim.check("k", 6).await,
            Err(FleetError::InsufficientCapacity {
                requested: 6,
                capacity: 5
            })
        ));
        assert_eq!(lim.check("k", 0).await.unwrap(), Ok(()));
    });
}

/// Four workers, each with its own Redis client, hammer one key. From the
/// Redis times of the admissions: in every span [t_i, t_j] at most
/// `burst + (t_j − t_i) / T` cells were admitted (GCRA's exact bound), and
/// so never more than `cells + burst` in any one-period window.
#[test]
fn several_workers_never_exceed_the_quota_in_any_window() {
    let rt = runtime();
    rt.block_on(async {
        let cfg = GcraConfig::per_second(50).with_burst(10); // T = 20 ms
        let o = opts("hammer");
        let admitted = Arc::new(Mutex::new(Vec::<u64>::new()));
        let denied = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let lim = RedisGcra::new(&redis_url(), cfg, o.clone()).unwrap();
            let admitted = Arc::clone(&admitted);
            let denied = Arc::clone(&denied);
            tasks.push(tokio::spawn(async move {
                let end = std::time::Instant::now() + Duration::from_millis(1500);
                while std::time::Instant::now() < end {
                    match lim.check_timed("shared", 1).await.unwrap() {
                        (Ok(()), Some(at)) => admitted.lock().unwrap().push(at),
                        (Ok(()), None) => panic!("an admission without a Redis time"),
                        (Err(d), _) => {
                            denied.fetch_add(1, Ordering::Relaxed);
                            assert!(d.wait <= Duration::from_millis(20));
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut times = admitted.lock().unwrap().clone();
        times.sort_unstable();
        assert!(times.len() > 10, "only {} admitted", times.len());
        assert!(
            denied.load(Ordering::Relaxed) > 0,
            "the workers never hit the limit"
        );
        let t = 20_000u64;
        for i in 0..times.len() {
            for j in i..times.len() {
                let count = (j - i + 1) as u64;
                let bound = 10 + (times[j] - times[i]) / t;
                assert!(
                    count <= bound,
                    "{count} admitted in {} µs (bound {bound})",
                    times[j] - times[i]
                );
            }
            let in_window = times[i..]
                .iter()
                .take_while(|&&x| x < times[i] + 1_000_000)
                .count();
            assert!(in_window <= 60, "{in_window} admitted in one second");
        }
    });
}

// ---------------------------------------------------------------- fail mode

/// A port on which nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn redis_down_fails_closed_without_hanging() {
    let rt = runtime();
    rt.block_on(async {
        let url = format!("redis://127.0.0.1:{}/", closed_port());
        let o = FleetOptions {
            fail_mode: FailMode::Closed,
            ..opts("down")
        };
        let lim = RedisGcra::new(&url, GcraConfig::per_second(5), o).unwrap();
        for _ in 0..3 {
            let r = tokio::time::timeout(Duration::from_secs(10), lim.check("k", 1)).await;
            let r = r.expect("the check hung");
            assert!(matches!(r, Err(FleetError::Unavailable(_))), "{r:?}");
        }
    });
}

#[test]
fn a_silent_redis_times_out_and_falls_back_to_the_local_limiter() {
    let rt = runtime();
    rt.block_on(async {
        // Accepts connections and never answers: the command timeout must fire.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let h2 = Arc::clone(&held);
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                h2.lock().unwrap().push(s);
            }
        });
        let url = format!("redis://127.0.0.1:{port}/");
        let o = FleetOptions {
            fail_mode: FailMode::FallbackLocal,
            command_timeout: Duration::from_millis(200),
            ..opts("silent")
        };
        let lim = RedisGcra::new(&url, GcraConfig::per_minute(3), o).unwrap();
        let mut admitted = 0;
        for _ in 0..5 {
            let r = tokio::time::timeout(Duration::from_secs(10), lim.check("k", 1))
                .await
                .expect("the check hung")
                .unwrap();
            match r {
                Ok(()) => admitted += 1,
                Err(d) => assert!(d.wait > Duration::from_secs(10), "{d:?}"),
            }
        }
        // The local core GCRA: burst 3 in one minute, then denials.
        assert_eq!(admitted, 3);
    });
}

#[test]
fn the_outbox_fails_fast_when_redis_is_down() {
    let url = format!("redis://127.0.0.1:{}/", closed_port());
    let o = RedisOutbox::new(&url, &prefix("odown"), "w1")
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    assert!(o.load_pending().is_err());
    // Within the backoff the next call does not even try to connect.
    let e = o.load_pending().unwrap_err();
    assert!(e.to_string().contains("next reconnect attempt"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

// ---------------------------------------------------------------- outbox
/// A TCP proxy in front of the test Redis that can be cut (open
/// connections dropped, new ones refused) and restored: Redis lost and back.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let target = redis_url()
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (up2, conns2) = (Arc::clone(&up), Arc::clone(&conns));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { port, up, conns }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Redis lost and back: the limiter (fail closed) denies at once while it
/// is gone and decides through Redis again once it is back; the shared trip
/// (fallback local) reads "no trip" meanwhile and sees the trip again after.
#[test]
fn the_limiter_and_the_trip_reconnect_when_redis_is_back() {
    use novitai_tokio::fleet::SharedTrip;
    let rt = runtime();
    rt.block_on(async {
        let proxy = Proxy::start().await;
        let o = FleetOptions {
            fail_mode: FailMode::Closed,
            command_timeout: Duration::from_millis(300),
            ..opts("reconnect")
        };
        let lim = RedisGcra::new(&proxy.url(), GcraConfig::per_second(1000), o.clone()).unwrap();
        let trip = SharedTrip::new(
            &proxy.url(),
            &FleetOptions {
                fail_mode: FailMode::FallbackLocal,
                ..o.clone()
            },
            Duration::ZERO,
        )
        .unwrap();
        assert!(matches!(
            lim.check_timed("k", 1).await,
            Ok((Ok(()), Some(_)))
        ));
        assert!(
            trip.publish("novita", Duration::from_secs(60))
                .await
                .unwrap()
        );
        assert!(trip.remaining("novita").await.is_some());

        proxy.cut();
        for _ in 0..3 {
            let r = tokio::time::timeout(Duration::from_secs(10), lim.check("k", 1))
                .await
                .expect("the check hung");
            assert!(matches!(r, Err(FleetError::Unavailable(_))), "{r:?}");
            let t = tokio::time::timeout(Duration::from_secs(10), trip.remaining("novita"));
            assert_eq!(t.await.expect("hung"), None, "fallback: no shared trip");
        }

        proxy.restore();
        eventually(
            "the limiter to reach Redis again",
            Duration::from_secs(20),
            || async { matches!(lim.check_timed("k", 1).await, Ok((Ok(()), Some(_)))) },
        )
        .await;
        eventually(
            "the trip to be seen again",
            Duration::from_secs(20),
            || async { trip.remaining("novita").await.is_some() },
        )
        .await;
    });
}

/// With a local fallback, the outbox keeps working while Redis is gone
/// (records written to a FileOutbox), and moves what it wrote into Redis,
/// and the removals it could not make, once Redis is back.
#[test]
fn the_outbox_falls_back_to_a_local_outbox_and_moves_it_into_redis_when_back() {
    use novitai_tokio::webhook::FileOutbox;
    let rt = runtime();
    let proxy = rt.block_on(Proxy::start());
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn Outbox> = Arc::new(FileOutbox::open(dir.path()).unwrap());
    let p = prefix("ofallback");
    let o = RedisOutbox::new(&proxy.url(), &p, "w1")
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .with_local_fallback(Arc::clone(&local))
        .unwrap();
    let direct = RedisOutbox::new(&redis_url(), &p, "observer").unwrap();
    o.put(&rec("msg_1")).unwrap();
    assert_eq!((direct.len().unwrap(), o.local_len()), (1, 0));

    proxy.cut();
    let started = std::time::Instant::now();
    o.put(&rec("msg_2")).unwrap();
    let mut later = rec("msg_1");
    later.attempt = 2;
    o.update(&later).unwrap();
    o.remove("msg_1").unwrap();
    assert_eq!(o.local_len(), 1, "msg_2 is local; msg_1 was finished");
    assert_eq!(o.load_pending().unwrap(), vec![rec("msg_2")]);
    assert!(o.flush_local().is_err(), "still down: nothing moves");
    assert!(started.elapsed() < Duration::from_secs(10), "no call hung");
    assert_eq!(local.load_pending().unwrap(), vec![rec("msg_2")]);
    assert_eq!(direct.len().unwrap(), 1, "Redis still holds msg_1");

    proxy.restore();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match o.flush_local() {
            Ok(moved) => {
                assert_eq!(moved, 1);
                break;
            }
            Err(e) => assert!(std::time::Instant::now() < deadline, "{e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(o.local_len(), 0);
    assert!(local.load_pending().unwrap().is_empty());
    let mut in_redis = direct.claim_orphans().unwrap();
    assert!(in_redis.is_empty(), "msg_2 is leased to w1: {in_redis:?}");
    in_redis = o.load_pending().unwrap();
    assert_eq!(
        in_redis,
        vec![rec("msg_2")],
        "msg_1's removal reached Redis"
    );
    assert_eq!(direct.len().unwrap(), 1);
}

fn rec(id: &str) -> novitai_tokio::core::webhook::PendingDelivery {
    novitai_tokio::core::webhook::PendingDelivery::new(
        id,
        br#"{"a":1}"#.to_vec(),
        "http://127.0.0.1:1/x",
        Schedule::node_default(),
        novitai_tokio::core::UnixTime::from_secs(1_700_000_000),
    )
}

#[test]
fn leases_give_a_dead_workers_records_to_another_and_only_then() {
    let p = prefix("lease");
    let a = RedisOutbox::new(&redis_url(), &p, "a")
        .unwrap()
        .with_lease(Duration::from_millis(300));
    let b = RedisOutbox::new(&redis_url(), &p, "b")
        .unwrap()
        .with_lease(Duration::from_millis(300));
    a.put(&rec("msg_1")).unwrap();
    a.put(&rec("msg_2")).unwrap();
    // Dedupe by webhook-id: a second put of the same id keeps the first.
    let mut other = rec("msg_1");
    other.attempt = 7;
    b.put(&other).unwrap();
    assert!(b.claim_orphans().unwrap().is_empty(), "a's leases are live");
    assert_eq!(a.renew_leases().unwrap(), 2);
    std::thread::sleep(Duration::from_millis(400)); // a is "dead": no renewal
    let mut got: Vec<_> = b.claim_orphans().unwrap();
    got.sort_by(|x, y| x.message_id.cmp(&y.message_id));
    assert_eq!(got, vec![rec("msg_1"), rec("msg_2")]);
    assert!(a.claim_orphans().unwrap().is_empty(), "b holds them now");
    b.remove("msg_1").unwrap();
    b.remove("msg_2").unwrap();
    assert!(b.is_empty().unwrap());
}

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn sender_config(outbox: Arc<RedisOutbox>) -> SenderConfig {
    let mut cfg = SenderConfig::new(Signer::new(WebhookKey::from_whsec(SECRET).unwrap()), outbox);
    cfg.url_policy = UrlPolicy {
        allow_private: true,
        require_https: false,
    };
    cfg
}

const ENV_CHILD_PREFIX: &str = "NOVITAI_FLEET_CHILD_PREFIX";
const ENV_CHILD_URL: &str = "NOVITAI_FLEET_CHILD_URL";
/// Notifications the child worker queues.
const KILL_N: u32 = 12;
/// The child's lease: after its death, the survivor adopts within this.
const KILL_LEASE: Duration = Duration::from_millis(1000);
const KILL_BOUND: Duration = Duration::from_secs(60);

/// One second between attempts, 31 attempts: far more than the test needs.
fn kill_schedule() -> Schedule {
    Schedule::new(
        vec![CoreDuration::from_secs(1); 30],
        Jitter::None,
        CoreDuration::ZERO,
    )
    .unwrap()
}

/// The child worker: not a test on its own (ignored, and a no-op without
/// its environment); `a_worker_killed_mid_delivery_loses_nothing` runs this
/// binary again with `--ignored --exact child_redis_worker`.
#[test]
#[ignore = "run by a_worker_killed_mid_delivery_loses_nothing as a child process"]
fn child_redis_worker() {
    let (Ok(prefix), Ok(url)) = (
        std::env::var(ENV_CHILD_PREFIX),
        std::env::var(ENV_CHILD_URL),
    ) else {
        return;
    };
    let rt = runtime();
    rt.block_on(async move {
        let outbox = Arc::new(
            RedisOutbox::new(&redis_url(), &prefix, "worker-child")
                .unwrap()
                .with_lease(KILL_LEASE),
        );
        let (sender, mut reports) = WebhookSender::new(sender_config(Arc::clone(&outbox)))
            .await
            .unwrap();
        let _renew = spawn_reclaimer(Arc::clone(&outbox), sender.clone(), KILL_LEASE / 5);
        for n in 0..KILL_N {
            let note = Notification::new(
                format!("inst-{n}"),
                NotificationStatus::Running,
                novitai_tokio::webhook::receiver::unix_now(),
            );
            sender.send(&url, &note, kill_schedule()).await.unwrap();
        }
        println!("ENQUEUED");
        // Deliver until killed.
        while let Some(r) = reports.recv().await {
            println!("REPORT {} {:?}", r.id, r.outcome);
        }
    });
}

/// The receiver: verifies each webhook, dedupes on webhook-id, and answers
/// 503 to odd-numbered notifications until told otherwise.
/// A worker process killed with SIGKILL mid-schedule loses nothing.
///
/// The child (this binary again) queues twelve notifications into the
/// RedisOutbox and delivers them, renewing its leases; the receiver accepts
/// the even-numbered ones and answers 503 to the odd ones, so when every
/// notification has had an attempt and the parent kills the child, every odd
/// one is certainly mid-schedule. They are still in Redis; a second worker
/// adopts them once the dead worker's leases expire and delivers each with
/// the webhook-id the child gave it. The receiver dedupes on webhook-id and
/// sees every notification.
#[test]
fn a_worker_killed_mid_delivery_loses_nothing() {
    let rt = runtime();
    rt.block_on(async {
        let (rx, url) = GatedReceiver::serve(WebhookKey::from_whsec(SECRET).unwrap()).await;
        let p = prefix("kill");

        // 1. The child worker queues every notification and starts delivering.
        let mut child = common::spawn_child_until_enqueued("child_redis_worker", &[("REDIS_URL", &redis_url()), (ENV_CHILD_PREFIX, &p), (ENV_CHILD_URL, &url)], KILL_BOUND).await;

        // 2. Once every notification had an attempt, SIGKILL it mid-schedule.
        wait_for("a first attempt of every notification", KILL_BOUND, || {
            rx.instances_seen() == KILL_N as usize
        })
        .await;
        child.start_kill().unwrap(); // SIGKILL on unix
        let status = child.wait().await.unwrap();
        assert!(!status.success(), "the child was killed: {status:?}");
        let before_kill = rx.attempts.lock().unwrap().len();

        // 3. Every odd-numbered notification is still pending in Redis.
        let survivor = Arc::new(
            RedisOutbox::new(&redis_url(), &p, "worker-survivor")
                .unwrap()
                .with_lease(KILL_LEASE),
        );
        let left = survivor.len().unwrap();
        assert!(
            left >= u64::from(KILL_N / 2),
            "only {left} records left in Redis; the odd ones are {}",
            KILL_N / 2
        );

        // 4. A second worker adopts the dead one's deliveries once its leases
        // expire, and finishes every one.
        rx.open.store(true, Ordering::SeqCst);
        let (b, mut reports) = WebhookSender::new(sender_config(Arc::clone(&survivor)))
            .await
            .unwrap();
        let reclaim = spawn_reclaimer(Arc::clone(&survivor), b.clone(), KILL_LEASE / 5);
        for _ in 0..left {
            let r = tokio::time::timeout(KILL_BOUND, reports.recv())
                .await
                .expect("a report within the bound")
                .unwrap();
            assert_eq!(r.outcome, DeliveryOutcome::Delivered, "{r:?}");
        }
        reclaim.abort();
        b.shutdown().await;
        assert!(survivor.is_empty().unwrap(), "nothing left in the outbox");

        // 5. What the receiver saw: every notification, under one id each.
        assert_eq!(rx.bad.load(Ordering::SeqCst), 0, "a webhook failed verification");
        let attempts = rx.attempts.lock().unwrap().clone();
        let mut ids_per_instance: std::collections::HashMap<&str, HashSet<&str>> =
            std::collections::HashMap::new();
        for (inst, id, _) in &attempts {
            ids_per_instance.entry(inst).or_default().insert(id);
        }
        assert_eq!(ids_per_instance.len(), KILL_N as usize);
        for (inst, ids) in &ids_per_instance {
            assert_eq!(ids.len(), 1, "{inst} was sent under several webhook-ids: {ids:?}");
        }
        let delivered = rx.delivered.lock().unwrap().clone();
        let all_ids: HashSet<String> = ids_per_instance
            .values()
            .flat_map(|ids| ids.iter().map(|s| (*s).to_owned()))
            .collect();
        assert_eq!(delivered, all_ids, "every notification delivered (deduplicated)");
        for n in (1..KILL_N).step_by(2) {
            let inst = format!("inst-{n}");
            let before = attempts[..before_kill].iter().filter(|(i, _, _)| *i == inst).count();
            let after = attempts[before_kill..].iter().filter(|(i, _, _)| *i == inst).count();
            assert!(
                before >= 1 && after >= 1,
                "{inst}: {before} attempts by the killed worker, {after} by the survivor"
            );
        }
        println!(
            "redis outbox kill: {} notifications, {} attempts, {} duplicate deliveries deduplicated",
            KILL_N,
            attempts.len(),
            rx.duplicates.load(Ordering::SeqCst)
        );
    });
}

// ---------------------------------------------------------------- bench

/// Decisions per second through Redis from 1, 4 and 16 concurrent clients,
/// with latency percentiles. `cargo test ... --test fleet -- --ignored bench --nocapture`.
#[test]
#[ignore = "benchmark: prints figures"]
fn bench_limiter_decisions() {
    let rt = runtime();
    rt.block_on(async {
        for clients in [1usize, 4, 16] {
            let cfg = GcraConfig::per_second(1_000_000);
            let o = opts("bench");
            let per = 20_000 / clients;
            let start = std::time::Instant::now();
            let mut tasks = Vec::new();
            for c in 0..clients {
                let lim = RedisGcra::new(&redis_url(), cfg, o.clone()).unwrap();
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(per);
                    for _ in 0..per {
                        let t0 = std::time::Instant::now();
                        let _ = lim.check(&format!("k{}", c % 4), 1).await.unwrap();
                        lat.push(t0.elapsed().as_micros() as u64);
                    }
                    lat
                }));
            }
            let mut lat = Vec::new();
            for t in tasks {
                lat.extend(t.await.unwrap());
            }
            let secs = start.elapsed().as_secs_f64();
            lat.sort_unstable();
            let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
            println!(
                "fleet limiter: {clients:>2} clients: {:>8.0} decisions/s, p50 {} µs, p99 {} µs ({} decisions)",
                lat.len() as f64 / secs,
                pct(0.50),
                pct(0.99),
                lat.len()
            );
        }
    });
}

// ---------------------------------------------------------------- breaker

#[test]
fn a_published_trip_is_seen_by_another_worker_and_never_shortened() {
    use novitai_tokio::fleet::SharedTrip;
    let rt = runtime();
    rt.block_on(async {
        let o = opts("trip");
        let a = SharedTrip::new(&redis_url(), &o, Duration::ZERO).unwrap();
        let b = SharedTrip::new(&redis_url(), &o, Duration::ZERO).unwrap();
        assert_eq!(b.remaining("novita").await, None);
        assert!(a.publish("novita", Duration::from_secs(60)).await.unwrap());
        let left = b.remaining("novita").await.expect("b sees the trip");
        assert!(
            // Rounded up by at most 1 ms (PTTL is whole milliseconds).
            left > Duration::from_secs(50) && left <= Duration::from_millis(60_001),
            "{left:?}"
        );
        // A shorter trip does not cut the longer one short.
        assert!(!b.publish("novita", Duration::from_secs(1)).await.unwrap());
        assert!(a.remaining("novita").await.unwrap() > Duration::from_secs(50));
        assert_eq!(a.remaining("other").await, None);
    });
}

#[test]
fn redis_down_reads_as_no_trip_or_as_a_trip_as_configured() {
    use novitai_tokio::fleet::SharedTrip;
    let rt = runtime();
    rt.block_on(async {
        let url = format!("redis://127.0.0.1:{}/", closed_port());
        let fallback = SharedTrip::new(
            &url,
            &FleetOptions {
                fail_mode: FailMode::FallbackLocal,
                ..opts("tripdown")
            },
            Duration::ZERO,
        )
        .unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), fallback.remaining("novita"));
        assert_eq!(
            r.await.expect("hung"),
            None,
            "fallback: the local breaker decides"
        );
        let closed = SharedTrip::new(
            &url,
            &FleetOptions {
                fail_mode: FailMode::Closed,
                command_timeout: Duration::from_millis(200),
                ..opts("tripdown")
            },
            Duration::from_millis(100),
        )
        .unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), closed.remaining("novita"));
        let held = r.await.expect("hung").expect("fail closed: held open");
        assert!(
            held > Duration::ZERO && held <= Duration::from_millis(501),
            "held for the poll interval + twice the command timeout: {held:?}"
        );
        // Publishing fails fast, as an error.
        let p = tokio::time::timeout(
            Duration::from_secs(10),
            closed.publish("novita", Duration::from_secs(5)),
        );
        assert!(matches!(
            p.await.expect("hung"),
            Err(FleetError::Unavailable(_))
        ));
    });
}

// ------------------------------------------------- breaker shared by drivers

#[derive(Clone, Default)]
struct Api {
    failing: Arc<AtomicBool>,
    /// Requests that reached the server, per worker path.
    hits_a: Arc<AtomicU64>,
    hits_b: Arc<AtomicU64>,
}

async fn api_a(State(api): State<Api>) -> (StatusCode, &'static str) {
    api.hits_a.fetch_add(1, Ordering::SeqCst);
    api_answer(&api)
}

async fn api_b(State(api): State<Api>) -> (StatusCode, &'static str) {
    api.hits_b.fetch_add(1, Ordering::SeqCst);
    api_answer(&api)
}

fn api_answer(api: &Api) -> (StatusCode, &'static str) {
    if api.failing.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "{}")
    } else {
        (StatusCode::OK, "{}")
    }
}

/// Waits (polling every 20 ms) until `check` holds, for at most `bound`.
async fn eventually<F, Fut>(what: &str, bound: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + bound;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {bound:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two separate drivers on one Redis: A sees 5xx and trips; B, which has
/// seen only successes, holds its next request as breaker-open once it has
/// polled the shared trip (every 100 ms), sends nothing meanwhile, and after
/// the 2 s open time probes the (now healthy) server and closes again.
#[test]
fn a_trip_in_one_driver_holds_another_driver_open_and_it_recovers_after() {
    use novitai_tokio::core::breaker::{OpenDuration, State as Breaker};
    use novitai_tokio::core::engine::{Completion, EngineConfig, RequestOptions};
    use novitai_tokio::core::http::{HttpRequest, Method};
    use novitai_tokio::fleet::SharedTrip;
    use novitai_tokio::{Driver, DriverOptions};

    let rt = runtime();
    rt.block_on(async {
        let api = Api::default();
        let app = Router::new()
            .route("/v1/a", axum::routing::get(api_a))
            .route("/v1/b", axum::routing::get(api_b))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let open_for = Duration::from_secs(2);
        let poll = Duration::from_millis(100);
        let mut engine = EngineConfig::default();
        engine.retry.max_attempts = 1;
        engine.breaker.open_duration = OpenDuration::Fixed(
            novitai_tokio::core::Duration::from_millis(open_for.as_millis() as u64),
        );
        let o = opts("drivers");
        let driver = |seed: u64| {
            let share = SharedTrip::new(&redis_url(), &o, poll).unwrap();
            Driver::spawn(
                engine.clone(),
                DriverOptions {
                    base_url: base.clone(),
                    seed: Some(seed),
                    breaker_share: Some(Arc::new(share)),
                    ..DriverOptions::default()
                },
            )
            .unwrap()
        };
        let a = driver(1);
        let b = driver(2);
        let get = |path: &str, n: u32| HttpRequest::new(Method::Get, format!("{path}?n={n}"));

        // B is healthy: a success, breaker closed.
        let c = b
            .send(get("/v1/b", 0), RequestOptions::new())
            .await
            .unwrap();
        assert!(c.outcome.is_success(), "{c:?}");

        // The outage: A sees five 503s and trips (5 consecutive failures).
        api.failing.store(true, Ordering::SeqCst);
        for n in 0..5 {
            let c = a
                .send(get("/v1/a", n), RequestOptions::new())
                .await
                .unwrap();
            assert!(!c.outcome.is_success());
        }
        let sa = a.status().await.unwrap();
        assert_eq!(sa.breaker, Breaker::Open);
        // The server is fine again; only the shared trip holds B back.
        api.failing.store(false, Ordering::SeqCst);

        // A published its trip.
        let watcher = SharedTrip::new(&redis_url(), &o, Duration::ZERO).unwrap();
        eventually("A's trip in Redis", Duration::from_secs(5), || async {
            watcher.remaining("novita").await.is_some()
        })
        .await;

        // B adopts it within its poll interval (bounded generously here).
        eventually("B to adopt A's trip", Duration::from_secs(5), || async {
            b.status().await.unwrap().breaker == Breaker::Open
        })
        .await;
        let hits_b = api.hits_b.load(Ordering::SeqCst);
        let c = b
            .send(get("/v1/b", 1), RequestOptions::new())
            .await
            .unwrap();
        let Completion::BreakerOpen { until } = c.outcome else {
            panic!("B sent its request during A's trip: {c:?}")
        };
        assert_eq!(Some(until), b.status().await.unwrap().breaker_open_until);
        assert_eq!(
            api.hits_b.load(Ordering::SeqCst),
            hits_b,
            "nothing reached the server from B while open"
        );

        // After the open time, B probes the healthy server and closes.
        let mut n = 2;
        eventually("B to probe and close", Duration::from_secs(20), || {
            n += 1;
            let b = b.clone();
            let req = get("/v1/b", n);
            async move {
                let _ = b.send(req, RequestOptions::new()).await.unwrap();
                b.status().await.unwrap().breaker == Breaker::Closed
            }
        })
        .await;
        assert!(
            api.hits_b.load(Ordering::SeqCst) >= hits_b + 3,
            "three probes"
        );
        // A recovers the same way.
        eventually("A to probe and close", Duration::from_secs(20), || {
            n += 1;
            let a = a.clone();
            let req = get("/v1/a", n);
            async move {
                let _ = a.send(req, RequestOptions::new()).await.unwrap();
                a.status().await.unwrap().breaker == Breaker::Closed
            }
        })
        .await;
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// A driver whose breaker share cannot reach Redis never hangs: with
/// `FallbackLocal` its requests go out as usual (the local breaker alone
/// decides); with `Closed` they complete as breaker-open without being sent.
#[test]
fn a_driver_whose_share_cannot_reach_redis_follows_the_fail_mode() {
    use novitai_tokio::core::breaker::State as Breaker;
    use novitai_tokio::core::engine::{Completion, EngineConfig, RequestOptions};
    use novitai_tokio::core::http::{HttpRequest, Method};
    use novitai_tokio::fleet::SharedTrip;
    use novitai_tokio::{Driver, DriverOptions};

    let rt = runtime();
    rt.block_on(async {
        let api = Api::default();
        let app = Router::new()
            .route("/v1/b", axum::routing::get(api_b))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let dead = format!("redis://127.0.0.1:{}/", closed_port());
        let driver = |mode: FailMode| {
            let o = FleetOptions {
                fail_mode: mode,
                command_timeout: Duration::from_millis(200),
                ..opts("driverdown")
            };
            let share = SharedTrip::new(&dead, &o, Duration::from_millis(50)).unwrap();
            Driver::spawn(
                EngineConfig::default(),
                DriverOptions {
                    base_url: base.clone(),
                    seed: Some(3),
                    breaker_share: Some(Arc::new(share)),
                    ..DriverOptions::default()
                },
            )
            .unwrap()
        };
        let req = |n: u32| HttpRequest::new(Method::Get, format!("/v1/b?n={n}"));

        let local = driver(FailMode::FallbackLocal);
        tokio::time::sleep(Duration::from_millis(300)).await; // several polls
        for n in 0..3 {
            let c = tokio::time::timeout(
                Duration::from_secs(10),
                local.send(req(n), RequestOptions::new()),
            )
            .await
            .expect("hung")
            .unwrap();
            assert!(c.outcome.is_success(), "{c:?}");
        }
        assert_eq!(local.status().await.unwrap().breaker, Breaker::Closed);
        local.shutdown().await;

        let closed = driver(FailMode::Closed);
        eventually(
            "the unknown to hold the breaker open",
            Duration::from_secs(10),
            || async { closed.status().await.unwrap().breaker == Breaker::Open },
        )
        .await;
        let hits = api.hits_b.load(Ordering::SeqCst);
        let c = tokio::time::timeout(
            Duration::from_secs(10),
            closed.send(req(9), RequestOptions::new()),
        )
        .await
        .expect("hung")
        .unwrap();
        assert!(matches!(c.outcome, Completion::BreakerOpen { .. }), "{c:?}");
        assert_eq!(api.hits_b.load(Ordering::SeqCst), hits, "nothing sent");
        closed.shutdown().await;
    });
}
