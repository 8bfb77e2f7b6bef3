//! The durable outbox: pending webhook deliveries that survive a crash.
//!
//! The sender stores a [`PendingDelivery`] record with [`Outbox::put`] before
//! [`send`](super::WebhookSender::send) returns, rewrites it with
//! [`Outbox::update`] after every attempt whose result is known, and drops it
//! with [`Outbox::remove`] once the delivery is finished (delivered, gone or
//! failed). After a restart, [`Outbox::load_pending`] gives back everything not
//! yet finished and the sender resumes it. An attempt in flight when the
//! process died is simply sent again with the same `webhook-id`, so delivery is
//! at least once and receivers deduplicate on the id.
//!
//! Two implementations:
//! - [`FileOutbox`]: an append-only journal on local disk, one JSON line per
//!   change, `fsync`ed before each call returns, compacted when opened (and
//!   when dead lines pile up). A torn last line after a crash is skipped.
//! - [`MemoryOutbox`]: a map in memory, for tests and for callers who accept
//!   losing pending webhooks on a crash.
//!
//! The trait is synchronous and the sender calls it from a blocking thread
//! (`tokio::task::spawn_blocking`), so an implementation may block (on
//! `fsync`, or on a synchronous Redis connection).

use novitai_core::webhook::PendingDelivery;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Why the outbox could not store or read records.
#[derive(Debug)]
pub enum OutboxError {
    /// Reading or writing the store failed.
    Io(io::Error),
    /// Another process (or another [`FileOutbox`] in this one) holds the
    /// outbox directory.
    Locked(PathBuf),
    /// A record could not be encoded.
    Encode(serde_json::Error),
}

impl fmt::Display for OutboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboxError::Io(e) => write!(f, "the webhook outbox could not be read or written: {e}"),
            OutboxError::Locked(p) => write!(
                f,
                "the webhook outbox at {} is in use by another sender; give each sender its own directory",
                p.display()
            ),
            OutboxError::Encode(e) => write!(f, "a webhook record could not be encoded: {e}"),
        }
    }
}

impl std::error::Error for OutboxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OutboxError::Io(e) => Some(e),
            OutboxError::Encode(e) => Some(e),
            OutboxError::Locked(_) => None,
        }
    }
}

impl From<io::Error> for OutboxError {
    fn from(e: io::Error) -> OutboxError {
        OutboxError::Io(e)
    }
}

/// Durable storage for pending deliveries, keyed by message id.
///
/// Every method returns only once the change is durable (for a disk store:
/// written and synced). The sender calls these from a blocking thread.
pub trait Outbox: Send + Sync + 'static {
    /// Stores a new pending delivery.
    fn put(&self, record: &PendingDelivery) -> Result<(), OutboxError>;
    /// Replaces the stored record with the same message id.
    fn update(&self, record: &PendingDelivery) -> Result<(), OutboxError>;
    /// Forgets a finished delivery. Removing an unknown id is not an error.
    fn remove(&self, message_id: &str) -> Result<(), OutboxError>;
    /// Every delivery stored and not removed.
    fn load_pending(&self) -> Result<Vec<PendingDelivery>, OutboxError>;
}

impl fmt::Debug for dyn Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Outbox")
    }
}

/// An outbox in memory: nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    records: Mutex<HashMap<String, PendingDelivery>>,
}

impl MemoryOutbox {
    /// An empty outbox.
    #[must_use]
    pub fn new() -> MemoryOutbox {
        MemoryOutbox::default()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, PendingDelivery>> {
        // A panic while holding the lock cannot leave the map half-changed
        // (every change is one insert or remove), so a poisoned lock is fine.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Outbox for MemoryOutbox {
    fn put(&self, record: &PendingDelivery) -> Result<(), OutboxError> {
        self.map().insert(record.message_id.clone(), record.clone());
        Ok(())
    }

    fn update(&self, record: &PendingDelivery) -> Result<(), OutboxError> {
        self.put(record)
    }

    fn remove(&self, message_id: &str) -> Result<(), OutboxError> {
        self.map().remove(message_id);
        Ok(())
    }

    fn load_pending(&self) -> Result<Vec<PendingDelivery>, OutboxError> {
        Ok(self.map().values().cloned().collect())
    }
}

/// One line of the journal.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    /// The record as it is now (a new message or an update).
    Put(PendingDelivery),
    /// The message is finished; forget it.
    Done(String),
}

/// The journal's file name inside the outbox directory.
pub const JOURNAL_FILE: &str = "outbox.jsonl";
const LOCK_FILE: &str = "outbox.lock";
const COMPACT_TMP: &str = "outbox.jsonl.tmp";

/// Rewrite the journal once it holds this many lines more than live records
/// (and more than [`COMPACT_RATIO`] times as many).
const COMPACT_MIN_DEAD: usize = 1024;
const COMPACT_RATIO: usize = 4;

/// An outbox on local disk: an append-only journal of JSON lines in a
/// directory of its own.
///
/// Each change appends one line — `{"put": <record>}` or `{"done": "<id>"}` —
/// and calls `fsync` (`File::sync_data`) before returning, so a record the
/// caller was told is stored survives a crash or power loss. Opening the
/// outbox replays the journal (a torn or unreadable line is skipped with a
/// warning, never a panic), then compacts it: the live records are written to
/// a temporary file, synced, and renamed over the journal, and the directory
/// is synced. The journal is compacted the same way when dead lines pile up.
///
/// One process at a time: the directory is locked (an OS file lock, released
/// when the process exits, even by `SIGKILL`).
///
/// # Default
/// No `Default`: it needs a directory. Compaction when the journal has more
/// than 1024 dead lines and more than four lines per live record.
#[derive(Debug)]
pub struct FileOutbox {
    dir: PathBuf,
    compact_min_dead: usize,
    inner: Mutex<Journal>,
    // Held for the outbox's lifetime: the lock is on this handle.
    _lock: File,
}

#[derive(Debug)]
struct Journal {
    file: File,
    live: HashMap<String, PendingDelivery>,
    lines: usize,
    /// Bytes of complete lines, to cut off a half-written one.
    len: u64,
}

impl FileOutbox {
    /// Opens (creating if needed) the outbox in `dir`, replays and compacts
    /// its journal.
    pub fn open(dir: impl AsRef<Path>) -> Result<FileOutbox, OutboxError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(OutboxError::Locked(dir)),
            Err(fs::TryLockError::Error(e)) => return Err(OutboxError::Io(e)),
        }
        let live = replay(&dir.join(JOURNAL_FILE))?;
        let file = compact(&dir, &live)?;
        let lines = live.len();
        let len = file.metadata()?.len();
        Ok(FileOutbox {
            dir,
            compact_min_dead: COMPACT_MIN_DEAD,
            inner: Mutex::new(Journal {
                file,
                live,
                lines,
                len,
            }),
            _lock: lock,
        })
    }

    /// The directory holding the journal.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn journal(&self) -> MutexGuard<'_, Journal> {
        // Each change is applied to the map only after its line is durable,
        // so a panic mid-change leaves map and file consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn append(&self, entry: &Entry) -> Result<(), OutboxError> {
        let mut line = serde_json::to_vec(entry).map_err(OutboxError::Encode)?;
        line.push(b'\n');
        let mut j = self.journal();
        if let Err(e) = j.file.write_all(&line).and_then(|()| j.file.sync_data()) {
            // Cut off a partly written line (disk full, ...) so that the next
            // line does not run into it; if that fails too, replay skips it.
            let len = j.len;
            let _ = j.file.set_len(len);
            return Err(e.into());
        }
        j.len = j.len.saturating_add(line.len() as u64);
        j.lines = j.lines.saturating_add(1);
        match entry {
            Entry::Put(r) => {
                j.live.insert(r.message_id.clone(), r.clone());
            }
            Entry::Done(id) => {
                j.live.remove(id);
            }
        }
        let dead = j.lines.saturating_sub(j.live.len());
        if dead > self.compact_min_dead && j.lines > j.live.len().saturating_mul(COMPACT_RATIO) {
            let file = compact(&self.dir, &j.live)?;
            j.len = file.metadata()?.len();
            j.file = file;
            j.lines = j.live.len();
        }
        Ok(())
    }
}

impl Outbox for FileOutbox {
    fn put(&self, record: &PendingDelivery) -> Result<(), OutboxError> {
        self.append(&Entry::Put(record.clone()))
    }

    fn update(&self, record: &PendingDelivery) -> Result<(), OutboxError> {
        self.append(&Entry::Put(record.clone()))
    }

    fn remove(&self, message_id: &str) -> Result<(), OutboxError> {
        self.append(&Entry::Done(message_id.to_owned()))
    }

    fn load_pending(&self) -> Result<Vec<PendingDelivery>, OutboxError> {
        Ok(self.journal().live.values().cloned().collect())
    }
}

/// Reads the journal into the live records. Lines that do not parse (a torn
/// last line after a crash, or damage) are skipped with a warning.
fn replay(path: &Path) -> Result<HashMap<String, PendingDelivery>, OutboxError> {
    let mut live = HashMap::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(live),
        Err(e) => return Err(e.into()),
    };
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = buf.last() == Some(&b'\n');
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Entry>(text) {
            Ok(Entry::Put(r)) => {
                live.insert(r.message_id.clone(), r);
            }
            Ok(Entry::Done(id)) => {
                live.remove(&id);
            }
            Err(e) if !complete => {
                tracing::warn!(
                    line = line_no,
                    error = %e,
                    "webhook outbox: skipping a torn last line (the process stopped mid-write)"
                );
            }
            Err(e) => {
                tracing::warn!(
                    line = line_no,
                    error = %e,
                    "webhook outbox: skipping a damaged journal line"
                );
            }
        }
    }
    Ok(live)
}

/// Writes the live records to a fresh journal atomically and returns it open
/// for appending.
fn compact(dir: &Path, live: &HashMap<String, PendingDelivery>) -> Result<File, OutboxError> {
    let tmp = dir.join(COMPACT_TMP);
    {
        let mut out = io::BufWriter::new(File::create(&tmp)?);
        for r in live.values() {
            serde_json::to_writer(&mut out, &Entry::Put(r.clone())).map_err(OutboxError::Encode)?;
            out.write_all(b"\n")?;
        }
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
    }
    let journal = dir.join(JOURNAL_FILE);
    fs::rename(&tmp, &journal)?;
    sync_dir(dir)?;
    Ok(OpenOptions::new().append(true).open(&journal)?)
}

/// Makes a rename in `dir` durable (POSIX: fsync the directory).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use novitai_core::UnixTime;
    use novitai_core::webhook::Schedule;

    fn rec(id: &str, attempt: u32) -> PendingDelivery {
        let mut r = PendingDelivery::new(
            id,
            br#"{"a":1}"#.to_vec(),
            "https://hooks.example.com/x",
            Schedule::node_default(),
            UnixTime::from_secs(1_700_000_000),
        );
        r.attempt = attempt;
        r
    }

    fn sorted(mut v: Vec<PendingDelivery>) -> Vec<PendingDelivery> {
        v.sort_by(|a, b| a.message_id.cmp(&b.message_id));
        v
    }

    #[test]
    fn records_survive_reopening_and_finished_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        {
            let o = FileOutbox::open(dir.path()).unwrap();
            o.put(&rec("msg_a", 0)).unwrap();
            o.put(&rec("msg_b", 0)).unwrap();
            o.update(&rec("msg_a", 2)).unwrap();
            o.remove("msg_b").unwrap();
            o.remove("msg_unknown").unwrap();
        }
        let o = FileOutbox::open(dir.path()).unwrap();
        assert_eq!(o.load_pending().unwrap(), vec![rec("msg_a", 2)]);
        // Compacted on open: one line for the one live record.
        let text = fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_rest_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let o = FileOutbox::open(dir.path()).unwrap();
            o.put(&rec("msg_a", 0)).unwrap();
            o.put(&rec("msg_b", 1)).unwrap();
        }
        let path = dir.path().join(JOURNAL_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        // A crash in the middle of writing `{"done":"msg_a"}`.
        f.write_all(br#"{"done":"msg_"#).unwrap();
        drop(f);
        let o = FileOutbox::open(dir.path()).unwrap();
        assert_eq!(
            sorted(o.load_pending().unwrap()),
            vec![rec("msg_a", 0), rec("msg_b", 1)]
        );
        // Appending after the repair starts on a fresh line.
        o.remove("msg_a").unwrap();
        drop(o);
        let o = FileOutbox::open(dir.path()).unwrap();
        assert_eq!(o.load_pending().unwrap(), vec![rec("msg_b", 1)]);
    }

    #[test]
    fn damaged_lines_and_garbage_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let good = serde_json::to_string(&Entry::Put(rec("msg_ok", 0))).unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"\xff\xfe not json\n\n{\"put\":{\"message_id\":1}}\n");
        bytes.extend_from_slice(good.as_bytes());
        bytes.extend_from_slice(b"\n{\"done\":\n\0\0\0");
        fs::write(&path, bytes).unwrap();
        let o = FileOutbox::open(dir.path()).unwrap();
        assert_eq!(o.load_pending().unwrap(), vec![rec("msg_ok", 0)]);
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _o = FileOutbox::open(dir.path()).unwrap();
        let err = FileOutbox::open(dir.path()).unwrap_err();
        assert!(matches!(err, OutboxError::Locked(_)), "{err}");
        assert!(err.to_string().contains("in use by another sender"));
    }

    #[test]
    fn the_journal_is_compacted_when_dead_lines_pile_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = FileOutbox::open(dir.path()).unwrap();
        o.compact_min_dead = 32;
        o.put(&rec("msg_keep", 0)).unwrap();
        for i in 0..100 {
            o.update(&rec("msg_churn", i)).unwrap();
        }
        o.remove("msg_churn").unwrap();
        let lines = fs::read_to_string(dir.path().join(JOURNAL_FILE))
            .unwrap()
            .lines()
            .count();
        assert!(lines < 40, "{lines} lines after compaction");
        drop(o);
        let o = FileOutbox::open(dir.path()).unwrap();
        assert_eq!(o.load_pending().unwrap(), vec![rec("msg_keep", 0)]);
    }

    #[test]
    fn the_memory_outbox_keeps_the_latest_record() {
        let o = MemoryOutbox::new();
        o.put(&rec("msg_a", 0)).unwrap();
        o.update(&rec("msg_a", 1)).unwrap();
        o.put(&rec("msg_b", 0)).unwrap();
        o.remove("msg_b").unwrap();
        assert_eq!(o.load_pending().unwrap(), vec![rec("msg_a", 1)]);
    }
}
