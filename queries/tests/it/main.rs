//! The lake as SQL: tables from the committed files only, read-only statements, access levels.

mod disclosure;
mod funnel;
mod incremental;
mod indicators;
mod intervals;
mod kommune_history;
mod pooled;
mod publish;
mod reproducible;
mod suppression;
mod trend;

use std::sync::Arc;

use lms_etl::{Etl, EtlOptions, Source};
use lms_queries::{Access, QueryError, Warehouse};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Reference, Rhf};

/// A lake holding one small year of Helse Vest's demo deliveries; returns its URL and the manifest.
async fn lake() -> (tempfile::TempDir, String, lms_generate::Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let reference = Arc::new(Reference::embedded().unwrap());
    let options =
        lms_generate::Options { seed: 3, first_year: 2023, last_year: 2023, scale: 0.02, codes_of_2024: false };
    let manifest = lms_generate::generate(&dir.path().join("in"), &options, &reference).unwrap();
    let url = format!("file://{}", dir.path().join("lake").display());
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let etl = Etl {
        lake: lms_lake::Lake::open(&url).unwrap(),
        reference,
        key: PseudonymKey::from_hex(&"01".repeat(32)).unwrap(),
        options: EtlOptions::default(),
        publisher: None,
    };
    let hv = Source::new("hv", Rhf::Hv, None, &format!("file://{}", dir.path().join("in/HV").display())).unwrap();
    etl.run(&[hv]).await.unwrap();
    (dir, url, manifest)
}

fn count(batches: &[datafusion::arrow::array::RecordBatch]) -> i64 {
    let a = batches[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap();
    a.value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_hold_the_committed_rows() {
    let (dir, url, manifest) = lake().await;
    // A stray Parquet file that no commit references must stay invisible.
    let committed = std::fs::read_dir(dir.path().join("lake/coding/rhf=HV/period=2023-05"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&committed, committed.with_file_name("stray.parquet")).unwrap();

    let w = Warehouse::open(&lms_lake::Lake::open(&url).unwrap(), Access::Warehouse).await.unwrap();
    assert_eq!(w.version(), 1);
    let expected: u64 = manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("HV/HV_coding") && f.rejected.is_none() && f.superseded_by.is_none())
        .map(|f| f.expected_loaded())
        .sum();
    assert_eq!(count(&w.sql("SELECT count(*) FROM coding").await.unwrap()) as u64, expected);
    let per_person = w.sql("SELECT count(DISTINCT person) FROM coding WHERE alder >= 0").await.unwrap();
    assert!(count(&per_person) > 100);
    let runs = w.sql("SELECT count(*) FROM runs WHERE source = 'hv' AND status = 'succeeded'").await.unwrap();
    assert_eq!(count(&runs), 1);
    let rejected = w.sql("SELECT count(*) FROM deliveries WHERE status = 'rejected'").await.unwrap();
    assert_eq!(
        count(&rejected) as usize,
        manifest.files.iter().filter(|f| f.path.starts_with("HV/") && f.rejected.is_some()).count()
    );
    let q = w.sql("SELECT count(*) FROM quarantine WHERE rule = 'duplicate_id'").await.unwrap();
    assert_eq!(count(&q), 2);
    let oslo = w.sql("SELECT count(*) FROM areas WHERE area IN ('0301', '030101') AND kommune = '0301'").await.unwrap();
    assert_eq!(count(&oslo), 2, "codes keep their leading zero");
    let pop = w.sql("SELECT sum(population) FROM population WHERE year = 2024").await.unwrap();
    assert!(count(&pop) > 5_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_change_or_reach_outside_are_refused() {
    let (_dir, url, _) = lake().await;
    let w = Warehouse::open(&lms_lake::Lake::open(&url).unwrap(), Access::Warehouse).await.unwrap();
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "DROP TABLE coding",
        "INSERT INTO regions VALUES ('X', 'y')",
        "COPY (SELECT * FROM coding) TO '/tmp/leak.parquet'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        match w.sql(sql).await {
            Err(QueryError::ReadOnly(_)) => {}
            other => panic!("{sql}: {other:?}"),
        }
    }
    assert!(!std::path::Path::new("/tmp/leak.parquet").exists());
    match w.sql("SELECT * FROM '/etc/passwd'").await {
        Err(QueryError::Sql(_)) => {}
        other => panic!("a file path is no table: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_access_has_no_person_level_tables() {
    let (_dir, url, _) = lake().await;
    let w = Warehouse::open(&lms_lake::Lake::open(&url).unwrap(), Access::Published).await.unwrap();
    for t in lms_queries::PERSON_LEVEL.iter().chain(&["runs", "deliveries"]) {
        let e = w.sql(&format!("SELECT count(*) FROM {t}")).await.unwrap_err();
        assert!(e.to_string().contains("not found"), "{t}: {e}");
    }
    assert_eq!(count(&w.sql("SELECT count(*) FROM regions").await.unwrap()), 4);
}
