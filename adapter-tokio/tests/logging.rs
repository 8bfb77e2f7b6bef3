//! The logs of a run with real secrets: every level appears, the correlation
//! id is a field, and neither the API key nor a registry password is ever
//! written.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{API_KEY, CLUSTERS, Reply, TestServer, config};
use novitai_core::api::registry::CreateRegistryAuth;
use novitai_tokio::Novita;

const PASSWORD: &str = "hunter2_REGISTRY_PASSWORD";

#[derive(Clone)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// current_thread: the driver, reqwest and the server all run on this
// thread, where the capturing subscriber is installed.
#[tokio::test]
async fn no_secret_is_ever_logged() {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer = Buf(Arc::clone(&buf));
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = TestServer::start(
        vec![
            // create_registry_auth: a retryable failure, then success.
            Reply::status(429).with_header("Retry-After", "0"),
            Reply::ok("{}"),
            // clusters: success.
            Reply::ok(CLUSTERS),
            // registry auths: a final 401.
            Reply::Status {
                code: 401,
                headers: Vec::new(),
                body: String::from(r#"{"code":401,"reason":"UNAUTHORIZED","message":"bad key"}"#),
                delay: std::time::Duration::ZERO,
            },
        ],
        Reply::ok("{}"),
    )
    .await;
    let novita = Novita::builder()
        .config(config(&server.base_url(), &[]))
        .seed(1)
        .build()
        .unwrap();
    novita
        .create_registry_auth(CreateRegistryAuth::new("ghcr", "me", PASSWORD))
        .await
        .unwrap();
    novita.clusters().await.unwrap();
    assert!(novita.registry_auths().await.is_err());
    novita.shutdown().await;

    // The secrets did travel (so the test could have caught a leak) ...
    let seen = server.seen();
    assert!(seen[0].head.contains(API_KEY));
    assert!(String::from_utf8_lossy(&seen[0].body).contains(PASSWORD));
    // ... but never reached the log.
    let logs = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    if std::env::var_os("SHOW_LOGS").is_some() {
        eprintln!("{logs}");
    }
    assert!(!logs.is_empty());
    assert!(!logs.contains(API_KEY), "API key leaked:\n{logs}");
    assert!(!logs.contains("SECRET_123"), "API key leaked:\n{logs}");
    assert!(!logs.contains(PASSWORD), "password leaked:\n{logs}");
    // Every level the adapter promises shows up, with the correlation id.
    for needle in [
        " INFO ",
        " DEBUG ",
        " WARN ",
        " ERROR ",
        "retry scheduled",
        "call succeeded",
        "call failed",
        // The correlation id is a span field, on every request line.
        "novitai_request{correlation_id=nv-",
        "novitai driver started",
        "novitai driver stopped",
    ] {
        assert!(logs.contains(needle), "missing {needle:?} in:\n{logs}");
    }
    for line in logs.lines().filter(|l| l.contains("retry scheduled")) {
        assert!(
            line.contains("novitai_request{correlation_id=nv-"),
            "a request line without its correlation span: {line}"
        );
    }
}
