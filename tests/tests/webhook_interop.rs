//! Interop with the Python reference package `standardwebhooks` (PyPI):
//! it verifies what we sign, and we verify what it signs.
//!
//! Needs a Python with `standardwebhooks` installed: `$NOVITAI_PYTHON`, or
//! `<workspace>/.venv/bin/python` (scripts/test.sh creates it). Ignored by a
//! plain `cargo test`; scripts/test.sh runs it with `--ignored`. When run
//! without the interpreter it fails, not skips.

use novitai_core::UnixTime;
use novitai_core::http::Headers;
use novitai_core::webhook::payload::Notification;
use novitai_core::webhook::{Signer, Verifier, VerifyError, WebhookKey};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Reads tab-separated requests on stdin, one per line, answers one line each:
///   sign    <secret> <id> <ts> <body hex>            -> "sig <signature>"
///   verify  <secret> <id> <ts> <sig> <body hex> <json:0|1> -> "ok [instanceId]" | "fail <reason>"
const SCRIPT: &str = r#"
import sys, json
from datetime import datetime, timezone
from standardwebhooks.webhooks import Webhook
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    try:
        if f[0] == "sign":
            wh = Webhook(f[1])
            body = bytes.fromhex(f[4]).decode()
            ts = datetime.fromtimestamp(int(f[3]), tz=timezone.utc)
            print("sig " + wh.sign(f[2], ts, body))
        elif f[0] == "verify":
            wh = Webhook(f[1])
            headers = {"Webhook-Id": f[2], "Webhook-Timestamp": f[3], "Webhook-Signature": f[4]}
            parsed = wh.verify(bytes.fromhex(f[5]), headers, json_parse=(f[6] == "1"))
            print("ok" + (" " + str(parsed.get("instanceId")) if f[6] == "1" else ""))
        else:
            print("fail unknown op")
    except Exception as e:
        print("fail " + type(e).__name__ + ": " + str(e).replace("\n", " "))
    sys.stdout.flush()
"#;

fn python() -> PathBuf {
    let path = match std::env::var_os("NOVITAI_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".venv")
            .join("bin")
            .join("python"),
    };
    assert!(
        path.exists(),
        "webhook interop needs Python with the `standardwebhooks` package, looked for {} \
         ($NOVITAI_PYTHON or <workspace>/.venv/bin/python). Run scripts/test.sh, which creates \
         .venv and installs standardwebhooks==1.1.*, or set NOVITAI_PYTHON.",
        path.display()
    );
    path
}

/// Runs the Python side over a batch of requests; one answer per request.
fn run_python(requests: &[String]) -> Vec<String> {
    let py = python();
    let mut child = Command::new(&py)
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", py.display()));
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for r in requests {
            writeln!(stdin, "{r}").expect("write to python");
        }
    }
    let out = child.wait_with_output().expect("python output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python failed ({}); is `standardwebhooks` installed in {}?\n{stderr}",
        out.status,
        py.display()
    );
    let lines: Vec<String> = stdout.lines().map(String::from).collect();
    assert_eq!(
        lines.len(),
        requests.len(),
        "python answered {stdout:?}\n{stderr}"
    );
    lines
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn verify_req(secret: &str, id: &str, ts: u64, sig: &str, body: &[u8], json: bool) -> String {
    format!(
        "verify\t{secret}\t{id}\t{ts}\t{sig}\t{}\t{}",
        hex(body),
        if json { 1 } else { 0 }
    )
}

fn sign_req(secret: &str, id: &str, ts: u64, body: &[u8]) -> String {
    format!("sign\t{secret}\t{id}\t{ts}\t{}", hex(body))
}

const NEW: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
// 20 random bytes: the padded form ends in '=', the unpadded one does not.
const PADDED: &str = "whsec_3q2+7wABAgMEBQYHCAkKCwwNDg8=";
const UNPADDED: &str = "whsec_3q2+7wABAgMEBQYHCAkKCwwNDg8";

fn key(s: &str) -> WebhookKey {
    WebhookKey::from_whsec(s).expect("valid secret")
}

fn headers(id: &str, ts: u64, sig: &str) -> Headers {
    [
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig.to_string()),
    ]
    .into_iter()
    .collect()
}

#[test]
#[ignore = "needs the Python venv; scripts/test.sh runs it"]
fn python_standardwebhooks_verifies_ours_and_we_verify_theirs() {
    let t = now();
    let body = "{\"instanceId\":\"inst-1\",\"note\":\"ünïcödé ✓\"}".as_bytes();
    let id = "msg_2dUf8nQ7ZLxSbqbH1fYnYp0";

    // What we send.
    let ours = Signer::new(key(NEW))
        .sign(id, UnixTime::from_secs(t), body)
        .unwrap();
    let rotated = Signer::with_keys([key(NEW), key(OLD)])
        .unwrap()
        .sign(id, UnixTime::from_secs(t), body)
        .unwrap();
    let unpadded = Signer::new(key(UNPADDED))
        .sign(id, UnixTime::from_secs(t), body)
        .unwrap();
    let stale = Signer::new(key(NEW))
        .sign(id, UnixTime::from_secs(t - 600), body)
        .unwrap();
    let notif = Notification::running(
        "inst-42",
        "nov-7",
        novitai_core::Duration::from_secs(3),
        UnixTime::from_secs(t),
    )
    .to_json()
    .unwrap();
    let notif_sig = Signer::new(key(NEW))
        .sign(id, UnixTime::from_secs(t), &notif)
        .unwrap();

    let big = vec![b'a'; 262_144];
    let requests = vec![
        // 0: plain
        verify_req(NEW, id, t, &ours, body, false),
        // 1, 2: key rotation, receiver on either key
        verify_req(OLD, id, t, &rotated, body, false),
        verify_req(NEW, id, t, &rotated, body, false),
        // 3, 4: unpadded secret on our side, padded and unpadded on theirs
        verify_req(PADDED, id, t, &unpadded, body, false),
        verify_req(UNPADDED, id, t, &unpadded, body, false),
        // 5: tampered body
        verify_req(NEW, id, t, &ours, b"{\"instanceId\":\"inst-2\"}", false),
        // 6: stale
        verify_req(NEW, id, t - 600, &stale, body, false),
        // 7: a notification payload, parsed as JSON by the receiver
        verify_req(NEW, id, t, &notif_sig, &notif, true),
        // 8..: what they send
        sign_req(NEW, id, t, body),
        sign_req(UNPADDED, id, t, body),
        sign_req(NEW, id, t - 600, body),
        sign_req(NEW, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, &big),
    ];
    let answers = run_python(&requests);
    assert_eq!(answers[0], "ok", "plain");
    assert_eq!(answers[1], "ok", "rotation, old key");
    assert_eq!(answers[2], "ok", "rotation, new key");
    assert_eq!(answers[3], "ok", "unpadded ours, padded theirs");
    assert_eq!(answers[4], "ok", "unpadded both");
    assert!(
        answers[5].starts_with("fail"),
        "tampered body accepted: {}",
        answers[5]
    );
    assert!(
        answers[6].contains("too old"),
        "stale accepted: {}",
        answers[6]
    );
    assert_eq!(answers[7], "ok inst-42", "notification payload");

    let theirs = |i: usize| -> String {
        answers[i]
            .strip_prefix("sig ")
            .unwrap_or_else(|| panic!("python could not sign: {}", answers[i]))
            .to_string()
    };
    let now = UnixTime::from_secs(t);
    // We verify theirs, with the padded and unpadded forms of the key.
    let sig = theirs(8);
    assert_eq!(sig, ours, "same key, same message, same signature");
    assert!(
        Verifier::new(key(NEW))
            .verify(&headers(id, t, &sig), body, now)
            .is_ok()
    );
    let sig = theirs(9);
    assert!(
        Verifier::new(key(PADDED))
            .verify(&headers(id, t, &sig), body, now)
            .is_ok()
    );
    assert_eq!(
        Verifier::new(key(NEW)).verify(&headers(id, t, &theirs(8)), b"{}", now),
        Err(VerifyError::NoMatchingSignature)
    );
    assert!(matches!(
        Verifier::new(key(NEW)).verify(&headers(id, t - 600, &theirs(10)), body, now),
        Err(VerifyError::Stale { .. })
    ));
    assert_eq!(
        theirs(11),
        "v1,Mw4Pe2WgApuT7NSqnSq0PQPV9gbLdggCl9B865x5Xh0="
    );
}
