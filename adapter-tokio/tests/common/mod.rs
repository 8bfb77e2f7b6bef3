//! A small HTTP/1.1 test server on 127.0.0.1 with scripted faults: each
//! request takes the next reply from a plan (then the default reply), and
//! the server counts requests, concurrent requests and closed connections.
#![allow(dead_code)]

pub mod receiver;
#[cfg(feature = "sim")]
pub mod sim;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use novitai_core::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answer after `delay`.
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: String,
        delay: Duration,
    },
    /// Close the connection without answering.
    Drop,
    /// Never answer (keep the connection open).
    Hang,
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply::Status {
            code: 200,
            headers: Vec::new(),
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(code: u16) -> Reply {
        Reply::Status {
            code,
            headers: Vec::new(),
            body: String::from("{}"),
            delay: Duration::ZERO,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Status { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    pub fn delayed(mut self, by: Duration) -> Reply {
        if let Reply::Status { delay, .. } = &mut self {
            *delay = by;
        }
        self
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: tokio::time::Instant,
    pub head: String,
    pub body: Vec<u8>,
}

pub struct State {
    pub plan: Mutex<VecDeque<Reply>>,
    pub default: Mutex<Reply>,
    pub seen: Mutex<Vec<Seen>>,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub closed: AtomicUsize,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<State>,
}

impl TestServer {
    /// Starts a server answering `default` after the replies in `plan`.
    pub async fn start(plan: Vec<Reply>, default: Reply) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            plan: Mutex::new(plan.into()),
            default: Mutex::new(default),
            seen: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
        });
        let s = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&s)));
            }
        });
        TestServer { addr, state }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn set_default(&self, reply: Reply) {
        *self.state.default.lock().unwrap() = reply;
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn closed(&self) -> usize {
        self.state.closed.load(Ordering::SeqCst)
    }

    /// Waits (real time, bounded) until `cond` holds.
    pub async fn wait_until(&self, what: &str, cond: impl Fn(&TestServer) -> bool) {
        for _ in 0..1000 {
            if cond(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for: {what}");
    }
}

async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Read one request head.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    state.closed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    state.closed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);

        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        state.seen.lock().unwrap().push(Seen {
            at: tokio::time::Instant::now(),
            head,
            body,
        });
        let reply = {
            let next = state.plan.lock().unwrap().pop_front();
            next.unwrap_or_else(|| state.default.lock().unwrap().clone())
        };
        match reply {
            Reply::Drop => {
                state.in_flight.fetch_sub(1, Ordering::SeqCst);
                state.closed.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Reply::Hang => {
                // Hold the connection until the client goes away.
                let mut chunk = [0u8; 64];
                while let Ok(n) = stream.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                }
                state.in_flight.fetch_sub(1, Ordering::SeqCst);
                state.closed.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Reply::Status {
                code,
                headers,
                body,
                delay,
            } => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let mut out = format!(
                    "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&body);
                state.in_flight.fetch_sub(1, Ordering::SeqCst);
                if stream.write_all(out.as_bytes()).await.is_err() {
                    state.closed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub const API_KEY: &str = "sk_live_SECRET_123456789";

/// A config for `base`, fast retries, plus `extra` pairs (later win).
pub fn config(base: &str, extra: &[(&str, &str)]) -> Config {
    let mut pairs: Vec<(String, String)> = vec![
        ("NOVITA_API_KEY".into(), API_KEY.into()),
        ("NOVITA_API_BASE_URL".into(), base.into()),
        ("RETRY_BASE_DELAY_MS".into(), "100".into()),
        ("RETRY_MAX_DELAY_MS".into(), "200".into()),
        ("REQUEST_TIMEOUT".into(), "5000".into()),
    ];
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Config::from_pairs(pairs).unwrap()
}

/// An empty cluster list.
pub const CLUSTERS: &str =
    r#"{"data":[{"id":"c1","name":"Hong Kong","availableGpuType":["RTX 4090"]}]}"#;

/// Re-runs this test binary as a child process running only the ignored
/// test `entry` with `envs` set, and waits (at most `bound`) until the child
/// prints a line ending in `ENQUEUED` (its later output is drained). Used by the crash tests, which then
/// kill the child mid-schedule.
pub async fn spawn_child_until_enqueued(
    entry: &str,
    envs: &[(&str, &str)],
    bound: Duration,
) -> tokio::process::Child {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            entry,
            "--nocapture",
            "--test-threads=1",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(bound, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // The harness prints `test <entry> ... ` before it.
            if line.ends_with("ENQUEUED") {
                return;
            }
        }
        panic!("the child exited before enqueuing");
    })
    .await
    .expect("the child enqueues within the bound");
    // Keep reading its output: a closed pipe would make the child's next
    // print panic, ending it before the test kills it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}
