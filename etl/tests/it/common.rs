//! Shared fixtures: generated deliveries, an ETL over a local lake, reading the lake back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow_array::{Array, RecordBatch, StringArray};
use lms_etl::{Etl, EtlOptions, Lake, Source};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Reference, Rhf};

pub fn reference() -> Arc<Reference> {
    static R: OnceLock<Arc<Reference>> = OnceLock::new();
    R.get_or_init(|| Arc::new(Reference::embedded().unwrap())).clone()
}

/// One year of demo deliveries (small scale), generated once for all tests that only read them.
pub fn demo() -> &'static (PathBuf, lms_generate::Manifest) {
    static DEMO: OnceLock<(PathBuf, lms_generate::Manifest)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let options =
            lms_generate::Options { seed: 11, first_year: 2024, last_year: 2024, scale: 0.02, codes_of_2024: false };
        let manifest = lms_generate::generate(&dir, &options, &reference()).unwrap();
        (dir, manifest)
    })
}

pub fn key() -> PseudonymKey {
    PseudonymKey::from_hex(&"5a".repeat(32)).unwrap()
}

/// An ETL over a fresh local lake in `dir/lake`, with no grace for garbage.
pub fn etl_at(dir: &Path) -> Etl {
    let lake_dir = dir.join("lake");
    std::fs::create_dir_all(&lake_dir).unwrap();
    Etl {
        lake: lms_lake::Lake::open(&format!("file://{}", lake_dir.display())).unwrap(),
        reference: reference(),
        key: key(),
        options: EtlOptions {
            garbage_grace: chrono::Duration::zero(),
            keep_snapshots: chrono::Duration::zero(),
            ..EtlOptions::default()
        },
        publisher: None,
    }
}

/// The four regions' sources under `incoming`.
pub fn sources(incoming: &Path) -> Vec<Source> {
    Rhf::ALL
        .iter()
        .map(|r| {
            Source::new(&r.code().to_lowercase(), *r, None, &format!("file://{}", incoming.join(r.code()).display()))
                .unwrap()
        })
        .collect()
}

/// Copies the demo's files for which `keep(path)` holds into a new incoming directory.
pub fn incoming_with(dir: &Path, keep: impl Fn(&str) -> bool) -> PathBuf {
    let (demo_dir, manifest) = demo();
    let incoming = dir.join("incoming");
    for r in Rhf::ALL {
        std::fs::create_dir_all(incoming.join(r.code())).unwrap();
    }
    for f in manifest.files.iter().filter(|f| keep(&f.path)) {
        std::fs::copy(demo_dir.join(&f.path), incoming.join(&f.path)).unwrap();
    }
    incoming
}

/// Reads every batch of a Parquet file in a local lake.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    reader.map(|b| b.unwrap()).collect()
}

/// The live files of a table at the lake's current version, read back.
pub async fn table(lake: &Lake, lake_dir: &Path, name: &str) -> Vec<RecordBatch> {
    let snapshot = lake.snapshot().await.unwrap();
    snapshot.table_files(name).flat_map(|f| read_parquet(&lake_dir.join(&f.path))).collect()
}

pub fn strings<'a>(batch: &'a RecordBatch, column: &str) -> Vec<Option<&'a str>> {
    let a = batch.column_by_name(column).unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

/// Every file below `dir` with its size, except run history.
pub fn listing(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if !rel.starts_with("_runs") {
                out.insert(rel, std::fs::metadata(&p).unwrap().len());
            }
        }
    }
    out
}

/// An empty commit of `version` by `run`, for testing the commit protocol alone.
pub fn empty_commit(version: u64, run: &str) -> lms_etl::lake::Commit {
    lms_etl::lake::Commit {
        version,
        run_id: run.into(),
        committed_at: chrono::Utc::now(),
        add: vec![],
        remove: vec![],
        deliveries: vec![],
        published: None,
        digest: None,
        key_id: None,
        renamed: vec![],
    }
}
