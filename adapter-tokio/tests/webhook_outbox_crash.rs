//! A sender killed mid-schedule loses nothing: its on-disk outbox is resumed
//! by the next sender, every notification is delivered, and the webhook-id of
//! each never changes across attempts and restarts.
//!
//! The parent test runs a receiver on 127.0.0.1:0 and re-invokes this test
//! binary as a child (the ignored `child_sender` entry, selected with an
//! environment variable) that enqueues notifications into a `FileOutbox` and
//! delivers them. The receiver accepts even-numbered notifications at once
//! and answers 503 to odd-numbered ones until the child is dead, so when the
//! parent sends SIGKILL, every odd one is certainly mid-schedule. A sender
//! restarted on the same directory must then deliver them.

use novitai_tokio::core::Duration;
use novitai_tokio::core::webhook::{
    Jitter, Notification, NotificationStatus, Schedule, Signer, UrlPolicy, WebhookKey,
};
use novitai_tokio::webhook::receiver::unix_now;
use novitai_tokio::webhook::{DeliveryOutcome, FileOutbox, Outbox, SenderConfig, WebhookSender};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

mod common;
use common::receiver::{GatedReceiver, wait_for};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ENV_DIR: &str = "NOVITAI_CRASH_CHILD_OUTBOX";
const ENV_URL: &str = "NOVITAI_CRASH_CHILD_URL";
const N: u32 = 20;
const BOUND: std::time::Duration = std::time::Duration::from_secs(60);

fn key() -> WebhookKey {
    WebhookKey::from_whsec(SECRET).unwrap()
}

/// One second between attempts, 21 attempts: far more than the test needs.
fn schedule() -> Schedule {
    Schedule::new(
        vec![Duration::from_secs(1); 20],
        Jitter::None,
        Duration::ZERO,
    )
    .unwrap()
}

fn config(dir: &std::path::Path) -> SenderConfig {
    let outbox: Arc<dyn Outbox> = Arc::new(FileOutbox::open(dir).unwrap());
    let mut cfg = SenderConfig::new(Signer::new(key()), outbox);
    cfg.url_policy = UrlPolicy {
        allow_private: true,
        require_https: false,
    };
    cfg
}

/// The child: not a test on its own (ignored); the parent runs it with
/// `--ignored --exact child_sender` and the environment set.
#[test]
#[ignore = "run by a_sender_killed_mid_schedule_resumes_from_its_outbox as a child process"]
fn child_sender() {
    let (Ok(dir), Ok(url)) = (std::env::var(ENV_DIR), std::env::var(ENV_URL)) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let (sender, mut reports) = WebhookSender::new(config(dir.as_ref())).await.unwrap();
        for n in 0..N {
            let note =
                Notification::new(format!("inst-{n}"), NotificationStatus::Running, unix_now());
            sender.send(&url, &note, schedule()).await.unwrap();
        }
        println!("ENQUEUED");
        // Deliver until killed.
        while let Some(r) = reports.recv().await {
            println!("REPORT {} {:?}", r.id, r.outcome);
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_mid_schedule_resumes_from_its_outbox() {
    let (state, url) = GatedReceiver::serve(key()).await;
    let dir = tempfile::tempdir().unwrap();

    // 1. The child enqueues N notifications and starts delivering.
    let dir_str = dir.path().to_str().unwrap();
    let mut child = common::spawn_child_until_enqueued(
        "child_sender",
        &[(ENV_DIR, dir_str), (ENV_URL, &url)],
        BOUND,
    )
    .await;

    // 2. Once every notification had an attempt, kill it mid-schedule.
    wait_for("a first attempt of every notification", BOUND, || {
        state.instances_seen() == N as usize
    })
    .await;
    child.kill().await.unwrap();
    let before_kill = state.attempts.lock().unwrap().len();

    // 3. Every odd-numbered notification is still pending on disk.
    let pending = {
        let outbox = FileOutbox::open(dir.path()).unwrap();
        outbox.load_pending().unwrap()
    };
    let pending_instances: HashSet<String> = pending
        .iter()
        .map(|r| {
            serde_json::from_slice::<Notification>(&r.payload)
                .unwrap()
                .instance_id
        })
        .collect();
    for n in (1..N).step_by(2) {
        assert!(
            pending_instances.contains(&format!("inst-{n}")),
            "inst-{n} was lost from the outbox"
        );
    }

    // 4. A sender restarted on the same outbox delivers everything left.
    state.open.store(true, Ordering::SeqCst);
    let (sender, mut reports) = WebhookSender::new(config(dir.path())).await.unwrap();
    for _ in 0..pending.len() {
        let r = tokio::time::timeout(BOUND, reports.recv())
            .await
            .expect("a report within the bound")
            .unwrap();
        assert_eq!(r.outcome, DeliveryOutcome::Delivered, "{r:?}");
    }
    sender.shutdown().await;
    drop(sender);

    // 5. What the receiver saw.
    let attempts = state.attempts.lock().unwrap().clone();
    assert_eq!(
        state.bad.load(Ordering::SeqCst),
        0,
        "a request failed verification"
    );
    let delivered: HashSet<&str> = attempts
        .iter()
        .filter(|(_, _, s)| *s == 204)
        .map(|(_, id, _)| id.as_str())
        .collect();
    assert_eq!(
        delivered.len(),
        N as usize,
        "distinct delivered webhook-ids"
    );
    let mut ids_per_instance: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (inst, id, _) in &attempts {
        ids_per_instance.entry(inst).or_default().insert(id);
    }
    assert_eq!(ids_per_instance.len(), N as usize);
    for (inst, ids) in &ids_per_instance {
        assert_eq!(
            ids.len(),
            1,
            "{inst} was sent under several webhook-ids: {ids:?}"
        );
    }
    for n in (1..N).step_by(2) {
        let inst = format!("inst-{n}");
        let before = attempts[..before_kill]
            .iter()
            .filter(|(i, _, _)| *i == inst)
            .count();
        let after = attempts[before_kill..]
            .iter()
            .filter(|(i, _, _)| *i == inst)
            .count();
        assert!(
            before >= 1 && after >= 1,
            "{inst}: {before} attempts before the kill, {after} after"
        );
    }
    // Nothing is left pending.
    let outbox = FileOutbox::open(dir.path()).unwrap();
    assert_eq!(outbox.load_pending().unwrap(), vec![]);
}
