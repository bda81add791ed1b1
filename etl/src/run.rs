//! One pass over sources: list, fetch what is new, load it, and commit everything the pass loaded
//! as one new lake version (by the lake's [`Transaction`], which also builds the published tables). A pass is all or nothing: an I/O failure anywhere (list, get, put of a
//! data file, put of the commit) leaves the lake at the version it had, and the next pass does the
//! work again. Bad content never fails a pass: it is rejected, quarantined and counted.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Delivery, Period, Reference};

use crate::error::EtlError;
use crate::lake::{
    Changes, DataFile, DeliveryRecord, DeliveryStatus, Lake, PeriodKey, Publish, RunRecord, RunStatus, Snapshot,
    Transaction, new_run_id,
};
use crate::load::{LoadContext, Loaded, load};
use crate::source::Source;

/// How passes behave.
#[derive(Clone, Debug)]
pub struct EtlOptions {
    /// Unreferenced files younger than this are left alone (another writer may be about to commit them).
    pub garbage_grace: chrono::Duration,
    /// Files a commit removed stay this long for readers of older snapshots (`[retention]
    /// snapshots_days`).
    pub keep_snapshots: chrono::Duration,
    /// How often a pass re-reads the lake and tries again when another writer committed first.
    pub commit_attempts: u32,
    /// Show a progress bar on a terminal.
    pub progress: bool,
    /// Deliveries loaded at the same time (default: the machine's cores).
    pub parallel_loads: usize,
}

impl Default for EtlOptions {
    fn default() -> Self {
        EtlOptions {
            garbage_grace: lms_lake::transaction::default_garbage_grace(),
            keep_snapshots: lms_lake::transaction::default_keep_snapshots(),
            commit_attempts: lms_lake::transaction::COMMIT_ATTEMPTS,
            progress: false,
            parallel_loads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// The ETL's shared state: the lake, reference data and the pseudonymisation key.
#[derive(Clone, Debug)]
pub struct Etl {
    pub lake: Lake,
    pub reference: Arc<Reference>,
    pub key: PseudonymKey,
    pub options: EtlOptions,
    /// Builds the published tables into every commit (the indicators); `None`: data only.
    pub publisher: Option<Arc<dyn Publish>>,
}

/// What a pass did.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub run_id: String,
    /// The version committed, or `None` when there was nothing new.
    pub version: Option<u64>,
    /// Deliveries processed in this pass (not those skipped as already processed).
    pub deliveries: Vec<DeliveryRecord>,
    /// Files listed and skipped because their bytes were processed before.
    pub skipped: u64,
    /// One record per source.
    pub runs: Vec<RunRecord>,
    pub garbage_deleted: usize,
}

/// Which periods a backfill reloads.
#[derive(Clone, Copy, Debug)]
pub struct Backfill {
    pub from: Period,
    pub to: Period,
}

impl Etl {
    /// One pass over `sources` now.
    pub async fn run(&self, sources: &[Source]) -> Result<RunReport, EtlError> {
        self.pass(sources, None, false).await
    }

    /// Rebuilds the published tables of the current version as a new commit (after a change of
    /// definitions; a pass does this by itself when the publisher's fingerprint changed).
    pub async fn republish(&self) -> Result<RunReport, EtlError> {
        self.pass(&[], None, true).await
    }

    /// Reloads the newest delivery of each period in `from..=to` at `source`, even where its bytes
    /// were loaded before, replacing what the lake holds for those periods.
    pub async fn backfill(&self, source: &Source, backfill: Backfill) -> Result<RunReport, EtlError> {
        self.pass(std::slice::from_ref(source), Some(backfill), false).await
    }

    async fn pass(&self, sources: &[Source], backfill: Option<Backfill>, publish: bool) -> Result<RunReport, EtlError> {
        let run_id = new_run_id();
        let started = Utc::now();
        let result = self.pass_inner(&run_id, sources, backfill, publish).await;
        let ended = Utc::now();
        let mut runs = Vec::new();
        for s in sources {
            let mut r = RunRecord {
                run_id: run_id.clone(),
                source: s.name.clone(),
                started_at: started,
                ended_at: ended,
                status: RunStatus::Failed,
                version: None,
                files: 0,
                files_rejected: 0,
                rows_read: 0,
                rows_loaded: 0,
                rows_rejected: 0,
                rejected_by_rule: BTreeMap::new(),
                error: None,
            };
            match &result {
                Ok(pass) => {
                    let mine: Vec<&DeliveryRecord> = pass.deliveries.iter().filter(|d| d.source == s.name).collect();
                    r.status = if mine.is_empty() { RunStatus::NothingNew } else { RunStatus::Succeeded };
                    r.version = pass.version;
                    r.files = mine.len() as u64;
                    r.files_rejected = mine.iter().filter(|d| d.status == DeliveryStatus::Rejected).count() as u64;
                    for d in mine {
                        r.rows_read += d.rows_read;
                        r.rows_loaded += d.rows_loaded;
                        r.rows_rejected += d.rows_rejected;
                        for (rule, n) in &d.rejected_by_rule {
                            *r.rejected_by_rule.entry(rule.clone()).or_default() += n;
                        }
                    }
                }
                Err(e) => r.error = Some(e.to_string()),
            }
            if let Err(e) = self.lake.record_run(&r).await {
                tracing::warn!(run_id, error = %e, "could not record the run");
            }
            runs.push(r);
        }
        let Pass { version, deliveries, skipped, garbage_deleted } = result?;
        Ok(RunReport { run_id, version, deliveries, skipped, runs, garbage_deleted })
    }

    async fn pass_inner(
        &self,
        run_id: &str,
        sources: &[Source],
        backfill: Option<Backfill>,
        publish: bool,
    ) -> Result<Pass, EtlError> {
        let snapshot = self.lake.snapshot().await?;
        // A key the lake's pseudonyms are not under is refused before anything is read.
        Transaction::new(&self.lake, run_id).key_id(Some(self.key.id())).check_key(&snapshot)?;
        let ctx = LoadContext {
            lake: self.lake.clone(),
            reference: self.reference.clone(),
            key: self.key.clone(),
            run_id: run_id.to_string(),
        };
        let mut loaded: Vec<Loaded> = Vec::new();
        let mut skipped = 0;
        let mut seq = 0;
        for source in sources {
            let mut listed = source.list().await?;
            // Oldest period first, and within a period by version, so a _v2 replaces its _v1.
            listed.sort_by_key(|l| match Delivery::parse(&l.name) {
                Ok(d) => (0, d.extract.name(), d.period, d.version, l.name.clone()),
                Err(_) => (1, "", Period::new(1000, 1).expect("period"), 0, l.name.clone()),
            });
            if let Some(b) = backfill {
                listed.retain(|l| Delivery::parse(&l.name).is_ok_and(|d| (b.from..=b.to).contains(&d.period)));
            }
            let bar = progress(self.options.progress, listed.len() as u64, &source.name);
            // Several deliveries at a time (each one's check runs on a blocking thread); the
            // outcomes come back in listing order, so the commit is the same as one at a time.
            let base = seq;
            seq += listed.len();
            let mut pending = Vec::with_capacity(listed.len());
            for (i, l) in listed.iter().enumerate() {
                pending.push(fetch_and_load(&ctx, source, l, &snapshot, backfill.is_some(), base + i + 1, &bar));
            }
            let outcomes: Vec<Option<Loaded>> =
                futures::stream::iter(pending).buffered(self.options.parallel_loads.max(1)).try_collect().await?;
            for o in outcomes {
                match o {
                    Some(loaded_one) => loaded.push(loaded_one),
                    None => skipped += 1,
                }
            }
            bar.finish_and_clear();
        }
        let transaction = Transaction::new(&self.lake, run_id)
            .publisher(self.publisher.clone())
            .republish(publish)
            .attempts(self.options.commit_attempts)
            .garbage_grace(self.options.garbage_grace)
            .keep_snapshots(self.options.keep_snapshots)
            .key_id(Some(self.key.id()));
        let committed = transaction.commit(snapshot, |s| plan_commit(s, &loaded, backfill.is_some())).await?;
        Ok(match committed.commit {
            Some(commit) => Pass {
                version: Some(commit.version),
                deliveries: commit.deliveries,
                skipped,
                garbage_deleted: committed.garbage_deleted,
            },
            // Nothing new, or another writer processed everything this pass loaded.
            None => Pass {
                version: None,
                deliveries: Vec::new(),
                skipped: skipped + loaded.len() as u64,
                garbage_deleted: committed.garbage_deleted,
            },
        })
    }
}

/// What a pass committed, before its run records.
struct Pass {
    version: Option<u64>,
    deliveries: Vec<DeliveryRecord>,
    skipped: u64,
    garbage_deleted: usize,
}

/// Fetches one listed file and loads it, unless the same delivery (name and bytes) was processed
/// before (`None`); a backfill reloads regardless.
async fn fetch_and_load(
    ctx: &LoadContext,
    source: &Source,
    listed: &crate::source::Listed,
    snapshot: &Snapshot,
    reload: bool,
    seq: usize,
    bar: &indicatif::ProgressBar,
) -> Result<Option<Loaded>, EtlError> {
    let fetched = source.fetch(listed).await?;
    // Delivery records keep the name masked (`load`): compare with it so.
    let name = lms_schemas::identity::mask_identity_numbers(&listed.name).into_owned();
    let key = (source.name.clone(), name.clone(), fetched.sha256.clone());
    let outcome = if snapshot.processed.contains(&key) && !reload {
        None
    } else {
        let outcome = load(ctx, source, listed, &fetched, seq).await?;
        tracing::debug!(
            delivery = %name,
            source = %source.name,
            status = %outcome.record.status,
            read = outcome.record.rows_read,
            loaded = outcome.record.rows_loaded,
            rejected = outcome.record.rows_rejected,
            "processed"
        );
        Some(outcome)
    };
    bar.set_message(name);
    bar.inc(1);
    Ok(outcome)
}

/// The changes of what a pass loaded on top of `snapshot`, with the data files written but not to be
/// committed (an older version of a period, or bytes another writer loaded meanwhile).
fn plan_commit(snapshot: &Snapshot, loaded: &[Loaded], backfill: bool) -> Changes {
    let mut add: Vec<DataFile> = Vec::new();
    let mut remove: Vec<String> = Vec::new();
    let mut discard: Vec<String> = Vec::new();
    let mut deliveries: Vec<DeliveryRecord> = Vec::new();
    // The delivery that fills each period after this commit (index into `deliveries`).
    let mut filling: BTreeMap<PeriodKey, usize> = BTreeMap::new();
    for l in loaded {
        let mut record = l.record.clone();
        let paths = || l.data.iter().map(|f| f.path.clone());
        // Bytes another writer processed while this pass ran (seen on a retry): theirs stand.
        if !backfill && snapshot.processed.contains(&record.processed_key()) {
            discard.extend(paths());
            discard.extend(l.quarantine.iter().map(|f| f.path.clone()));
            continue;
        }
        add.extend(l.quarantine.iter().cloned());
        if record.status == DeliveryStatus::Loaded
            && let Some(key) = record.period_key()
        {
            let current = filling.get(&key).map(|&i| &deliveries[i]).or_else(|| snapshot.periods.get(&key));
            let newer_exists = current.is_some_and(|c| c.version.unwrap_or(1) > record.version.unwrap_or(1));
            if newer_exists {
                record.status = DeliveryStatus::Superseded;
                discard.extend(paths());
                record.data_files.clear();
            } else {
                match filling.get(&key) {
                    Some(&i) => {
                        // An earlier delivery of this pass filled the period: it is superseded.
                        let earlier = &mut deliveries[i];
                        earlier.status = DeliveryStatus::Superseded;
                        discard.append(&mut earlier.data_files);
                        add.retain(|f| !discard.contains(&f.path));
                    }
                    None => {
                        if let Some(old) = snapshot.periods.get(&key) {
                            remove.extend(old.data_files.iter().cloned());
                        }
                    }
                }
                add.extend(l.data.iter().cloned());
                filling.insert(key, deliveries.len());
            }
        }
        deliveries.push(record);
    }
    Changes { add, remove, deliveries, discard }
}

fn progress(enabled: bool, len: u64, source: &str) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    // Drawn on standard error only when it is a terminal.
    let bar = indicatif::ProgressBar::with_draw_target(Some(len), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>5} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_prefix(source.to_string());
    bar
}
