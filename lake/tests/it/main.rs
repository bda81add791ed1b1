//! The lake's commit protocol, checkpoints and access log, on a local store (one test binary).

mod access;
mod checkpoint;
mod protocol;
mod vacuum;

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use lms_lake::{Commit, DataFile, DeliveryRecord, DeliveryStatus, Lake};

/// A fresh lake in a directory of `dir`.
pub fn lake_in(dir: &std::path::Path) -> Lake {
    lms_lake::Lake::open(&format!("file://{}", dir.join("lake").display())).unwrap()
}

/// Commit `version` of a lake where each commit loads one delivery (of a month that comes round
/// again every 12 versions, so later ones supersede earlier ones and remove their files), every
/// third one publishes, and every fifth records a rejected delivery too.
pub fn commit(version: u64, run: &str) -> Commit {
    let month = (version - 1) % 12 + 1;
    let period = format!("2024-{month:02}");
    let path = |v: u64| format!("activity/rhf=HV/period={period}/v{v}.parquet");
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(version as i64);
    let delivery = |file: String, status: DeliveryStatus, data_files: Vec<String>| DeliveryRecord {
        source: "hv".into(),
        file,
        sha256: format!("{version:064x}"),
        size: 100 + version,
        rhf: Some("HV".into()),
        extract: Some("activity".into()),
        period: Some(period.clone()),
        version: Some(version as u32),
        status,
        rows_read: 10,
        rows_loaded: if status == DeliveryStatus::Loaded { 9 } else { 0 },
        rows_rejected: if status == DeliveryStatus::Loaded { 1 } else { 10 },
        rejected_by_rule: BTreeMap::from([("kommune_unknown".to_string(), 1)]),
        rule: None,
        message: None,
        unknown_columns: vec![],
        run_id: run.into(),
        processed_at: at,
        data_files,
    };
    let mut deliveries =
        vec![delivery(format!("HV_aktivitet_{period}_v{version}.csv"), DeliveryStatus::Loaded, vec![path(version)])];
    if version.is_multiple_of(5) {
        deliveries.push(delivery(format!("HV_aktivitet_{period}_bad{version}.csv"), DeliveryStatus::Rejected, vec![]));
    }
    let file = DataFile {
        path: path(version),
        table: "activity".into(),
        rhf: Some("HV".into()),
        period: Some(period.clone()),
        rows: 9,
        bytes: 1000 + version,
    };
    Commit {
        version,
        run_id: run.into(),
        committed_at: at,
        add: vec![file],
        remove: if version > 12 { vec![path(version - 12)] } else { vec![] },
        deliveries,
        published: version.is_multiple_of(3).then(|| format!("defs-{}", version / 6)),
        digest: version.is_multiple_of(3).then(|| format!("digest-{version}")),
        key_id: None,
        renamed: vec![],
    }
}
