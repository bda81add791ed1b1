//! The access log (interfaces.md, third edition, "Access log"): one JSON line per read, hash-chained,
//! in objects under `_audit/` of the lake's store that are written once and never rewritten.
//!
//! Layout and invariants (tests in `tests/it/access.rs`):
//! - A line is [`AccessLine`]; `seq` counts from 1 over the whole lake (every process writing to it
//!   shares one chain) and `prev` is the hex SHA-256 of the line before as written (without its
//!   newline); the first line's `prev` is 64 zeros.
//! - Lines are written in objects `_audit/log/{seq / 10 000:010}/{first seq:020}.jsonl`, each with a
//!   conditional put (`PutMode::Create`): of two writers that both saw the chain end at N, one
//!   writes the object of N+1 and the other finds it taken, reads the new end and chains after it.
//!   So the objects' ranges are disjoint and without gaps, and nobody rewrites an object.
//! - A writer batches the reads waiting for it into one object (group commit), and a read's
//!   [`AccessLog::record`] returns only once its object is in the store: a caller that sends its
//!   answer after `record` returned never sends an answer whose line could be lost when the process
//!   is killed (a line may be written for an answer that was then never sent).
//! - Retention deletes whole objects from the oldest end only, after writing a cut
//!   (`_audit/cut/{next seq:020}.json`) that says where the kept chain starts and what its first
//!   `prev` is, so [`verify`] still checks every kept link.
//! - A token's secret is never given to this module: callers pass the token's configured name.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::LakeError;
use crate::log::Lake;

/// The `prev` of the chain's first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// `what` keeps at most this many bytes of the path or statement.
pub const WHAT_BYTES: usize = 4096;
/// Sequence numbers per directory of log objects (a directory holds the objects starting in it).
const PER_DIRECTORY: u64 = 10_000;
/// Reads written in one object at most.
const MAX_BATCH: usize = 4096;
/// Conditional puts tried before a batch is given up (other writers kept taking the next number).
const ATTEMPTS: usize = 20;

/// What a read ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// No or a wrong credential, too little of a role, a limit.
    Refused,
    Error,
}

/// A read, as its channel reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read {
    /// The token's configured name (never its secret); `None` without a credential or on a server
    /// without tokens.
    pub token: Option<String>,
    pub role: Option<String>,
    /// `http`, `postgres`, `flight` or `cli`.
    pub channel: String,
    /// The peer's address.
    pub client: Option<String>,
    /// The path (with its query string) or the SQL text; cut to [`WHAT_BYTES`].
    pub what: String,
    pub tables: Vec<String>,
    pub rows: u64,
    pub outcome: Outcome,
}

/// One line of the log: `seq`, `time`, the read's fields, `prev`, in the order interfaces.md gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLine {
    pub seq: u64,
    pub time: String,
    #[serde(flatten)]
    pub read: Read,
    pub prev: String,
}

/// Where retention cut the chain: lines before `next_seq` are gone; line `next_seq`'s `prev` is `prev`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    pub next_seq: u64,
    pub prev: String,
    pub time: DateTime<Utc>,
}

/// The end of the chain a writer appends to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct End {
    next_seq: u64,
    prev: String,
}

/// The hex SHA-256 of a line as written (without its newline).
pub fn line_hash(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

fn cut_to(mut what: String) -> String {
    if what.len() > WHAT_BYTES {
        let mut end = WHAT_BYTES;
        while !what.is_char_boundary(end) {
            end -= 1;
        }
        what.truncate(end);
    }
    what
}

fn log_dir(root: &Path) -> Path {
    root.clone().join("_audit").join("log")
}

fn cut_dir(root: &Path) -> Path {
    root.clone().join("_audit").join("cut")
}

fn object_path(root: &Path, first_seq: u64) -> Path {
    log_dir(root).join(format!("{:010}", first_seq / PER_DIRECTORY)).join(format!("{first_seq:020}.jsonl"))
}

/// The first seq of a log object, from its name.
fn first_seq_of(path: &Path) -> Option<u64> {
    path.filename()?.strip_suffix(".jsonl")?.parse().ok()
}

struct Pending {
    read: Read,
    time: DateTime<Utc>,
    done: tokio::sync::oneshot::Sender<Result<u64, String>>,
}

/// The access log of one lake, shared by a process's channels. Cloning shares the writer.
#[derive(Clone)]
pub struct AccessLog {
    store: Arc<dyn ObjectStore>,
    root: Path,
    /// The writer task's queue, started on the first read (so a log can be made outside a runtime).
    queue: Arc<OnceLock<tokio::sync::mpsc::UnboundedSender<Pending>>>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessLog({})", self.root)
    }
}

impl AccessLog {
    pub fn new(lake: &Lake) -> AccessLog {
        AccessLog { store: lake.store().clone(), root: lake.root().clone(), queue: Arc::new(OnceLock::new()) }
    }

    /// Writes `read` and returns its seq once its object is in the store. Reads recorded while an
    /// object is being written go together in the next one.
    pub async fn record(&self, read: Read) -> Result<u64, LakeError> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(write_batches(self.store.clone(), self.root.clone(), rx));
            tx
        });
        let (done, answer) = tokio::sync::oneshot::channel();
        let read = Read { what: cut_to(read.what), ..read };
        queue
            .send(Pending { read, time: Utc::now(), done })
            .map_err(|_| LakeError::Store("the access log's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| LakeError::Store("the access log's writer has stopped".into()))?
            .map_err(LakeError::Store)
    }
}

/// The writer: takes what is waiting, writes it as one object, answers each read.
async fn write_batches(
    store: Arc<dyn ObjectStore>,
    root: Path,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Pending>,
) {
    let mut end: Option<End> = None;
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let written = write_batch(&*store, &root, &mut end, &batch).await.map_err(|e| e.to_string());
        if let Err(e) = &written {
            tracing::error!(error = %e, reads = batch.len(), "the access log could not be written");
        }
        for (i, p) in batch.into_iter().enumerate() {
            let _ = p.done.send(written.clone().map(|first| first + i as u64));
        }
    }
}

/// Chains `batch` after the chain's end and writes it as the object of its first seq.
async fn write_batch(
    store: &dyn ObjectStore,
    root: &Path,
    end: &mut Option<End>,
    batch: &[Pending],
) -> Result<u64, LakeError> {
    for _ in 0..ATTEMPTS {
        let start = match end.take() {
            Some(e) => e,
            None => chain_end(store, root).await?,
        };
        let (body, after) = chain(&start, batch.iter().map(|p| (&p.read, p.time)));
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match store.put_opts(&object_path(root, start.next_seq), PutPayload::from(body), opts).await {
            Ok(_) => {
                *end = Some(after);
                return Ok(start.next_seq);
            }
            // Another writer took this number: read the new end and chain after it.
            Err(object_store::Error::AlreadyExists { .. }) => continue,
            // Whether it landed is unknown: the next batch reads the end from the store.
            Err(e) => return Err(LakeError::store(e)),
        }
    }
    Err(LakeError::Conflict(format!("the access log: other writers took the next number {ATTEMPTS} times")))
}

/// The lines of `reads` chained after `start`, and the end after them.
fn chain<'a>(start: &End, reads: impl Iterator<Item = (&'a Read, DateTime<Utc>)>) -> (Vec<u8>, End) {
    let mut body = Vec::new();
    let mut end = start.clone();
    for (read, time) in reads {
        let line = AccessLine {
            seq: end.next_seq,
            time: time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            read: read.clone(),
            prev: end.prev.clone(),
        };
        let text = serde_json::to_vec(&line).expect("an access line serialises");
        end = End { next_seq: end.next_seq + 1, prev: line_hash(&text) };
        body.extend_from_slice(&text);
        body.push(b'\n');
    }
    (body, end)
}

async fn get(store: &dyn ObjectStore, path: &Path) -> Result<bytes::Bytes, LakeError> {
    store.get(path).await.map_err(LakeError::store)?.bytes().await.map_err(LakeError::store)
}

/// The newest cut, if retention has cut the chain.
async fn newest_cut(store: &dyn ObjectStore, root: &Path) -> Result<Option<Cut>, LakeError> {
    let metas: Vec<_> = store.list(Some(&cut_dir(root))).try_collect().await.map_err(LakeError::store)?;
    let Some(newest) = metas.iter().map(|m| &m.location).max() else { return Ok(None) };
    let bytes = get(store, newest).await?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| LakeError::Log(format!("{newest}: {e}")))
}

/// Where the chain ends now: after the newest object's last line, else at the newest cut, else at
/// the start.
async fn chain_end(store: &dyn ObjectStore, root: &Path) -> Result<End, LakeError> {
    let dirs = store.list_with_delimiter(Some(&log_dir(root))).await.map_err(LakeError::store)?;
    // Directories are named by number, zero-padded: the largest name holds the newest objects.
    if let Some(dir) = dirs.common_prefixes.iter().max() {
        let metas: Vec<_> = store.list(Some(dir)).try_collect().await.map_err(LakeError::store)?;
        if let Some(newest) = metas.iter().map(|m| &m.location).filter(|p| first_seq_of(p).is_some()).max() {
            let bytes = get(store, newest).await?;
            let last = bytes
                .split(|b| *b == b'\n')
                .rfind(|l| !l.is_empty())
                .ok_or_else(|| LakeError::Log(format!("{newest}: an empty access log object")))?;
            let line: AccessLine =
                serde_json::from_slice(last).map_err(|e| LakeError::Log(format!("{newest}: {e}")))?;
            return Ok(End { next_seq: line.seq + 1, prev: line_hash(last) });
        }
    }
    Ok(match newest_cut(store, root).await? {
        Some(cut) => End { next_seq: cut.next_seq, prev: cut.prev },
        None => End { next_seq: 1, prev: GENESIS.to_string() },
    })
}

/// A log object: its path, first seq, when it was written.
#[derive(Clone, Debug)]
pub struct LogObject {
    pub path: String,
    pub first_seq: u64,
    pub last_modified: DateTime<Utc>,
}

/// Every log object of `lake`, in seq order.
pub async fn objects(lake: &Lake) -> Result<Vec<LogObject>, LakeError> {
    let root = lake.root().clone();
    let metas: Vec<_> = lake.store().list(Some(&log_dir(&root))).try_collect().await.map_err(LakeError::store)?;
    let mut out: Vec<LogObject> = metas
        .into_iter()
        .filter_map(|m| {
            Some(LogObject {
                first_seq: first_seq_of(&m.location)?,
                path: crate::log::relative_to(&root, &m.location),
                last_modified: m.last_modified,
            })
        })
        .collect();
    out.sort_by_key(|o| o.first_seq);
    Ok(out)
}

/// The kept lines of the log in seq order (lines retention has cut off are skipped). Lines that
/// cannot be read are an error naming their object and line: `verify` says more.
pub async fn lines(lake: &Lake) -> Result<Vec<AccessLine>, LakeError> {
    let root = lake.root().clone();
    let start = newest_cut(&**lake.store(), &root).await?.map_or(1, |c| c.next_seq);
    let mut out = Vec::new();
    for o in objects(lake).await? {
        let bytes = get(&**lake.store(), &lake.path(&o.path)).await?;
        for (i, l) in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
            let line: AccessLine =
                serde_json::from_slice(l).map_err(|e| LakeError::Log(format!("{} line {}: {e}", o.path, i + 1)))?;
            if line.seq >= start {
                out.push(line);
            }
        }
    }
    Ok(out)
}

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Lines checked, and the objects holding them.
    pub lines: u64,
    pub objects: u64,
    /// Where the checked chain starts (1, or where retention cut it).
    pub from_seq: u64,
    /// The last line's seq and hash: kept outside the store (a monitoring system, a ticket), it
    /// shows a truncated end, which no link inside the store can.
    pub head: Option<(u64, String)>,
    /// The first broken link, if any.
    pub broken: Option<Broken>,
}

/// The first broken link: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Broken {
    /// The object and the line in it (from 1).
    pub object: String,
    pub line: u64,
    /// The seq expected there.
    pub seq: u64,
    pub reason: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {} (seq {}): {}", self.object, self.line, self.seq, self.reason)
    }
}

/// Checks the chain from its start (or the newest cut) to its end: every line reads, the seqs go up
/// by one with no gap, each object is named by its first seq, and each `prev` is the hash of the line
/// before as written. Stops at the first broken link.
pub async fn verify(lake: &Lake) -> Result<Verified, LakeError> {
    let root = lake.root().clone();
    let cut = newest_cut(&**lake.store(), &root).await?;
    let (mut expected, mut prev) = match &cut {
        Some(c) => (c.next_seq, c.prev.clone()),
        None => (1, GENESIS.to_string()),
    };
    let from_seq = expected;
    let mut out = Verified { lines: 0, objects: 0, from_seq, head: None, broken: None };
    // Where the previous line is, for the message.
    let mut previous: Option<(String, u64)> = None;
    let objects: Vec<LogObject> = objects(lake).await?.into_iter().filter(|o| o.first_seq >= from_seq).collect();
    // Objects left below the cut by a retention that stopped half-way are not part of the chain.
    for o in objects {
        out.objects += 1;
        let bytes = get(&**lake.store(), &lake.path(&o.path)).await?;
        let broken = |line: u64, seq: u64, reason: String| Broken { object: o.path.clone(), line, seq, reason };
        if o.first_seq != expected {
            let reason = if o.first_seq > expected {
                format!(
                    "the object starts at seq {} but seq {expected} comes next: lines {expected}..{} are missing (a removed object or lines)",
                    o.first_seq,
                    o.first_seq - 1
                )
            } else {
                format!("the object starts at seq {}, which an earlier object holds", o.first_seq)
            };
            out.broken = Some(broken(1, expected, reason));
            return Ok(out);
        }
        for (i, l) in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
            let at = i as u64 + 1;
            let line: AccessLine = match serde_json::from_slice(l) {
                Ok(line) => line,
                Err(e) => {
                    out.broken = Some(broken(at, expected, format!("not an access line ({e}): it was changed")));
                    return Ok(out);
                }
            };
            if line.seq != expected {
                let reason = if line.seq > expected {
                    format!(
                        "seq {} where {expected} comes next: lines {expected}..{} are missing",
                        line.seq,
                        line.seq - 1
                    )
                } else {
                    format!("seq {} where {expected} comes next: a line repeated or changed", line.seq)
                };
                out.broken = Some(broken(at, expected, reason));
                return Ok(out);
            }
            if line.prev != prev {
                let before = previous
                    .as_ref()
                    .map_or("the cut's or the chain's start".to_string(), |(o, n)| format!("{o} line {n}"));
                out.broken = Some(broken(
                    at,
                    expected,
                    format!(
                        "prev does not match the hash of the line before ({before}): that line, or this one, was changed"
                    ),
                ));
                return Ok(out);
            }
            prev = line_hash(l);
            expected += 1;
            out.lines += 1;
            previous = Some((o.path.clone(), at));
        }
    }
    out.head = (expected > from_seq).then(|| (expected - 1, prev));
    Ok(out)
}

/// What retention of the access log found or did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Expired {
    /// Objects whose every line is older than the cut-off, from the oldest end of the chain.
    pub objects: Vec<String>,
    /// The seq the kept chain starts at after them.
    pub next_seq: Option<u64>,
    pub deleted: bool,
}

/// The log objects written before `before`, from the oldest end of the chain (an object is kept, and
/// every one after it, once one is newer), leaving the newest object in every case; with `apply`,
/// writes the cut and then deletes them.
pub async fn expire(lake: &Lake, before: DateTime<Utc>, apply: bool) -> Result<Expired, LakeError> {
    let root = lake.root().clone();
    let start = newest_cut(&**lake.store(), &root).await?.map_or(1, |c| c.next_seq);
    let all = objects(lake).await?;
    // Objects below the current cut are left-overs of a retention that stopped: they go too.
    let (old, kept): (Vec<_>, Vec<_>) = all.into_iter().partition(|o| o.first_seq < start);
    let mut gone: Vec<LogObject> = old;
    let expiring = kept.len().saturating_sub(1);
    let mut next = kept.first().map(|o| o.first_seq);
    for (i, o) in kept.iter().enumerate().take(expiring) {
        if o.last_modified >= before {
            break;
        }
        gone.push(o.clone());
        next = kept.get(i + 1).map(|o| o.first_seq);
    }
    let mut out = Expired { objects: gone.iter().map(|o| o.path.clone()).collect(), next_seq: next, deleted: false };
    if !apply || out.objects.is_empty() {
        return Ok(out);
    }
    let next_seq = next.expect("a kept object");
    if next_seq > start {
        // The hash of the line before the first kept one: the last line of the object before it.
        let last_gone = gone.iter().filter(|o| o.first_seq < next_seq).max_by_key(|o| o.first_seq).expect("one");
        let bytes = get(&**lake.store(), &lake.path(&last_gone.path)).await?;
        let last = bytes.split(|b| *b == b'\n').rfind(|l| !l.is_empty()).unwrap_or_default();
        let cut = Cut { next_seq, prev: line_hash(last), time: Utc::now() };
        let path = cut_dir(&root).join(format!("{next_seq:020}.json"));
        let body = serde_json::to_vec_pretty(&cut).expect("a cut serialises");
        let opts = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match lake.store().put_opts(&path, PutPayload::from(body), opts).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(LakeError::store(e)),
        }
    }
    // The cut is written first: a retention stopped half-way leaves objects below it, which the
    // next one deletes and `verify` does not read.
    for o in &gone {
        lake.store().delete(&lake.path(&o.path)).await.map_err(LakeError::store)?;
    }
    out.deleted = true;
    Ok(out)
}
