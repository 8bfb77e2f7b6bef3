//! `novitai webhook sign|verify|serve`: Standard Webhooks from the command
//! line, with the core's signer and verifier and the adapter's receiver.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Subcommand;
use novitai_tokio::core::UnixTime;
use novitai_tokio::core::http::Headers;
use novitai_tokio::core::webhook::{Signer, Verifier, WebhookKey};
use novitai_tokio::webhook::receiver::{VerifiedWebhook, WebhookReceiver, verify_webhook};

use crate::common::{Global, print_json, unix_now};
use crate::exit::CliError;

/// The webhook commands.
#[derive(Subcommand, Debug)]
pub enum WebhookCmd {
    /// Sign a body: prints the webhook-id, webhook-timestamp and
    /// webhook-signature headers.
    Sign {
        /// The secret: `whsec_<base64>`, or any other text used as raw bytes.
        #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// The message id (default: a fresh `msg_<32 hex>`).
        #[arg(long)]
        id: Option<String>,
        /// Unix seconds (default: now).
        #[arg(long)]
        timestamp: Option<u64>,
        /// The body, exactly as sent; `-` reads stdin.
        #[arg(long, value_name = "PATH")]
        body_file: String,
    },
    /// Verify a webhook: says valid, or exactly why not (exit 1).
    Verify {
        /// The secret: `whsec_<base64>`, or any other text used as raw bytes.
        #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// A header as `name: value` (repeat for webhook-id,
        /// webhook-timestamp, webhook-signature); `sign`'s output lines fit.
        #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// The body, exactly as received; `-` reads stdin.
        #[arg(long, value_name = "PATH")]
        body_file: String,
        /// Verify as of this unix time (default: now).
        #[arg(long)]
        now: Option<u64>,
    },
    /// Run a local receiver on 127.0.0.1 that verifies and prints deliveries.
    Serve {
        /// The secret: `whsec_<base64>`, or any other text used as raw bytes.
        #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// The port (0: any free port; the URL is printed).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Exit after this many verified deliveries (default: run until Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
    },
}

/// A key from `whsec_<base64>` or raw text.
pub fn key(secret: &str) -> Result<WebhookKey, CliError> {
    let secret = secret.trim();
    let key = if secret.starts_with("whsec_") {
        WebhookKey::from_whsec(secret)
    } else {
        WebhookKey::from_bytes(secret.as_bytes())
    };
    key.map_err(|e| CliError::Config(format!("  - --secret: {e}")))
}

fn read_body(path: &str) -> Result<Vec<u8>, CliError> {
    if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| CliError::Other(format!("could not read the body from stdin: {e}")))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| {
        CliError::Other(format!(
            "could not read the body file {path:?}: {e}; check the path"
        ))
    })
}

fn new_id() -> Result<String, CliError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| CliError::Other(format!("no randomness for a message id: {e}")))?;
    Ok(format!(
        "msg_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

pub async fn run(g: &Global, cmd: WebhookCmd) -> Result<(), CliError> {
    match cmd {
        WebhookCmd::Sign {
            secret,
            id,
            timestamp,
            body_file,
        } => {
            let signer = Signer::new(key(&secret)?);
            let body = read_body(&body_file)?;
            let id = match id {
                Some(id) => id,
                None => new_id()?,
            };
            let ts = timestamp.map_or_else(unix_now, UnixTime::from_secs);
            let headers = signer
                .headers(&id, ts, &body)
                .map_err(|e| CliError::Other(format!("could not sign: {e}")))?;
            if g.json {
                let map: serde_json::Map<String, serde_json::Value> = headers
                    .iter()
                    .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
                    .collect();
                return print_json(&map);
            }
            for (k, v) in headers.iter() {
                println!("{k}: {v}");
            }
            Ok(())
        }
        WebhookCmd::Verify {
            secret,
            headers,
            body_file,
            now,
        } => {
            let verifier = Verifier::new(key(&secret)?);
            let body = read_body(&body_file)?;
            let mut h = Headers::new();
            for line in &headers {
                let Some((name, value)) = line.split_once(':') else {
                    return Err(CliError::Other(format!(
                        "--header {line:?} is not `name: value`"
                    )));
                };
                h.set(name.trim().to_ascii_lowercase(), value.trim());
            }
            let now = now.map_or_else(unix_now, UnixTime::from_secs);
            match verifier.verify(&h, &body, now) {
                Ok(v) => {
                    println!(
                        "valid: webhook {} signed at {} ({})",
                        v.id,
                        v.timestamp.as_secs(),
                        v.timestamp.to_iso8601()
                    );
                    Ok(())
                }
                Err(e) => Err(CliError::Other(format!("invalid: {e}"))),
            }
        }
        WebhookCmd::Serve {
            secret,
            port,
            count,
        } => {
            let receiver = Arc::new(WebhookReceiver::standard(Verifier::new(key(&secret)?)));
            let (url, handle) = serve(receiver, port, true).await?;
            println!("webhook receiver listening at {url} (verifying; Ctrl-C to stop)");
            let mut ticker = tokio::time::interval(std::time::Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    _ = ticker.tick() => {
                        if count.is_some_and(|n| handle.verified() >= n) {
                            break;
                        }
                    }
                }
            }
            println!("{} deliveries verified", handle.verified());
            Ok(())
        }
    }
}

/// A running receiver: how many deliveries it verified.
#[derive(Clone)]
pub struct ReceiverHandle {
    verified: Arc<AtomicU64>,
}

impl ReceiverHandle {
    /// Deliveries verified and handled so far.
    pub fn verified(&self) -> u64 {
        self.verified.load(Ordering::Relaxed)
    }
}

/// Serves `receiver` at `http://127.0.0.1:PORT/hooks` (the axum middleware
/// verifies; refused requests never reach the handler). `print` prints each
/// verified delivery. Runs until the process ends.
pub async fn serve(
    receiver: Arc<WebhookReceiver>,
    port: u16,
    print: bool,
) -> Result<(String, ReceiverHandle), CliError> {
    let verified = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&verified);
    let app = axum::Router::new()
        .route(
            "/hooks",
            axum::routing::post(move |hook: VerifiedWebhook| {
                let counter = Arc::clone(&counter);
                async move {
                    counter.fetch_add(1, Ordering::Relaxed);
                    if print {
                        let status = hook
                            .json::<serde_json::Value>()
                            .ok()
                            .and_then(|v| {
                                v.get("status").and_then(|s| s.as_str().map(str::to_owned))
                            })
                            .unwrap_or_else(|| "?".to_owned());
                        println!(
                            "verified webhook {} ({status}, {} bytes)",
                            hook.id.as_deref().unwrap_or("-"),
                            hook.body.len()
                        );
                    }
                    "ok"
                }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            receiver,
            verify_webhook,
        ));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|e| {
            CliError::Other(format!(
                "could not listen on 127.0.0.1:{port}: {e}; pick another --port or 0"
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Other(format!("could not read the receiver's address: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("webhook receiver stopped: {e}");
        }
    });
    Ok((format!("http://{addr}/hooks"), ReceiverHandle { verified }))
}
