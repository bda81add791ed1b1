//! The demo deliveries of all four regions into a lake.

use std::collections::{BTreeMap, BTreeSet};

use arrow_array::{Array, Int64Array, RecordBatch};
use lms_etl::lake::DeliveryRecord;

use crate::common::{demo, etl_at, incoming_with, listing, read_parquet, sources, strings, table};

fn record<'a>(deliveries: &'a [DeliveryRecord], path: &str) -> &'a DeliveryRecord {
    let (dir, name) = path.split_once('/').unwrap();
    deliveries
        .iter()
        .find(|d| d.source == dir.to_lowercase() && d.file == name)
        .unwrap_or_else(|| panic!("no delivery record for {path}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_and_file_is_accounted_for() {
    let (_, manifest) = demo();
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |_| true);
    let etl = etl_at(dir.path());
    let report = etl.run(&sources(&incoming)).await.unwrap();
    assert_eq!(report.version, Some(1));
    let snapshot = etl.lake.snapshot().await.unwrap();
    assert_eq!(snapshot.deliveries.len(), manifest.files.len(), "every file is a delivery record");

    let mut expected_quarantine: BTreeSet<(String, Option<i64>, Option<String>, String)> = BTreeSet::new();
    let mut expected_rows: BTreeMap<String, u64> = BTreeMap::new();
    for f in &manifest.files {
        let d = record(&snapshot.deliveries, &f.path);
        let name = f.path.split_once('/').unwrap().1.to_string();
        // The key that makes the same bytes a no-op next time: the whole file's hash, for a
        // delivery loaded, rejected at a fault, or rejected by its name unread.
        let bytes = std::fs::read(incoming.join(&f.path)).unwrap();
        assert_eq!(d.sha256, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)), "{}", f.path);
        assert_eq!(d.size, bytes.len() as u64, "{}", f.path);
        match f.rejected {
            Some(rule) => {
                assert_eq!((d.status.name(), d.rule.as_deref()), ("rejected", Some(rule.as_str())), "{}", f.path);
                assert_eq!(d.rows_read, 0, "a file rejected whole counts no rows");
                expected_quarantine.insert((name, None, None, rule.as_str().to_string()));
            }
            None => {
                assert_eq!(d.rows_read, f.rows, "{}", f.path);
                assert_eq!(d.rows_loaded, f.expected_loaded(), "{}", f.path);
                assert_eq!(d.rows_read, d.rows_loaded + d.rows_rejected, "{}", f.path);
                for p in &f.planted {
                    expected_quarantine.insert((
                        name.clone(),
                        Some(p.line as i64),
                        p.column.clone(),
                        p.rule.as_str().into(),
                    ));
                }
                let superseded = f.superseded_by.is_some();
                assert_eq!(d.status.name(), if superseded { "superseded" } else { "loaded" }, "{}", f.path);
                if !superseded {
                    *expected_rows.entry(d.extract.clone().unwrap()).or_default() += f.expected_loaded();
                }
            }
        }
    }

    // The quarantine holds exactly the planted faults, with their rules.
    let lake_dir = dir.path().join("lake");
    let mut quarantined = BTreeSet::new();
    for b in table(&etl.lake, &lake_dir, "quarantine").await {
        let lines = b.column_by_name("line").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
        let (delivery, column, rule) = (strings(&b, "delivery"), strings(&b, "column"), strings(&b, "rule"));
        for i in 0..b.num_rows() {
            let line = lines.is_valid(i).then(|| lines.value(i));
            let rule = rule[i].unwrap();
            // A whole-file rejection keeps the line where the fault was found, if any; the manifest
            // names only the rule.
            let line = if lms_schemas::Rule::parse(rule).unwrap().rejects_file() { None } else { line };
            quarantined.insert((
                delivery[i].unwrap().to_string(),
                line,
                column[i].map(str::to_string),
                rule.to_string(),
            ));
        }
    }
    assert_eq!(quarantined, expected_quarantine);

    // Every other row is in the lake, once.
    for (extract, expected) in expected_rows {
        let rows: usize = table(&etl.lake, &lake_dir, &extract).await.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows as u64, expected, "{extract}");
    }
    let runs = etl.lake.runs().await.unwrap();
    assert_eq!(runs.len(), 4, "one run record per source");
    assert!(
        runs.iter()
            .all(|r| r.status == lms_etl::lake::RunStatus::Succeeded && r.rows_read == r.rows_loaded + r.rows_rejected)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |p| p.starts_with("HV/") || p.starts_with("HMN/"));
    let etl = etl_at(dir.path());
    let first = etl.run(&sources(&incoming)).await.unwrap();
    assert_eq!(first.version, Some(1));
    let before = listing(&dir.path().join("lake"));
    let second = etl.run(&sources(&incoming)).await.unwrap();
    assert_eq!(second.version, None);
    assert!(second.deliveries.is_empty());
    assert_eq!(second.skipped as usize, first.deliveries.len());
    assert_eq!(listing(&dir.path().join("lake")), before, "no file added, removed or changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_replaces_its_period_and_nothing_else() {
    let (_, manifest) = demo();
    let v2 = manifest
        .files
        .iter()
        .find(|f| f.path.starts_with("HSO/") && f.path.ends_with("_v2.csv") && f.path.contains("activity_2024-03"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |p| p.starts_with("HSO/") && p != v2.path);
    let etl = etl_at(dir.path());
    etl.run(&sources(&incoming)).await.unwrap();
    let before = etl.lake.snapshot().await.unwrap();
    let key = lms_etl::lake::PeriodKey { rhf: "HSO".into(), extract: "activity".into(), period: "2024-03".into() };
    assert_eq!(before.periods[&key].version, Some(1));

    let (demo_dir, _) = demo();
    std::fs::copy(demo_dir.join(&v2.path), incoming.join(&v2.path)).unwrap();
    let report = etl.run(&sources(&incoming)).await.unwrap();
    assert_eq!(report.version, Some(2));
    assert_eq!(report.deliveries.len(), 1);
    let after = etl.lake.snapshot().await.unwrap();
    assert_eq!(after.periods[&key].file, "HSO_activity_2024-03_v2.csv");

    // Only that period's data file changed; the quarantine of v1 stays as history.
    let changed: BTreeSet<&String> = before.files.keys().filter(|p| !after.files.contains_key(*p)).collect();
    let old: BTreeSet<&String> = before.periods[&key].data_files.iter().collect();
    assert_eq!(changed, old);
    let added: Vec<&String> = after.files.keys().filter(|p| !before.files.contains_key(*p)).collect();
    assert_eq!(added.len(), 1);
    assert!(added[0].starts_with("activity/rhf=HSO/period=2024-03/"), "{added:?}");
    let rows: usize = read_parquet(&dir.path().join("lake").join(added[0])).iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows as u64, v2.expected_loaded());
    let periods: Vec<_> = table(&etl.lake, &dir.path().join("lake"), "activity")
        .await
        .iter()
        .flat_map(|b| strings(b, "delivery").into_iter().map(|s| s.unwrap().to_string()).collect::<Vec<_>>())
        .filter(|d| d.contains("2024-03"))
        .collect();
    assert!(periods.iter().all(|d| d == "HSO_activity_2024-03_v2.csv"), "no v1 row is left");
}

/// Valid identity numbers among the 11-digit runs of a text.
fn identity_numbers(text: &str) -> usize {
    let b = text.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i + 11 <= b.len() {
        if b[i..i + 11].iter().all(u8::is_ascii_digit)
            // Bounded by neither digits nor letters: a run inside a hex pseudonym is no number.
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && b.get(i + 11).is_none_or(|c| !c.is_ascii_alphanumeric())
            && lms_schemas::identity::parse(&text[i..i + 11]).is_ok()
        {
            n += 1;
            i += 11;
        } else {
            i += 1;
        }
    }
    n
}

fn batch_text(b: &RecordBatch) -> String {
    let options = arrow_array::cast::AsArray::as_string_opt::<i32>;
    let mut s = String::new();
    for c in b.columns() {
        if let Some(a) = options(c.as_ref()) {
            for v in a.iter().flatten() {
                s.push_str(v);
                s.push(' ');
            }
        } else if let Ok(a) = arrow_cast_display(c.as_ref()) {
            s.push_str(&a);
        }
    }
    s
}

fn arrow_cast_display(a: &dyn Array) -> Result<String, ()> {
    // Numbers, dates and lists are shown by their Debug form: enough to find digit runs.
    Ok(format!("{a:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_identity_number_reaches_the_lake() {
    let (demo_dir, manifest) = demo();
    // The inputs do hold identity numbers, so the scan below can find them.
    let coding = manifest.files.iter().find(|f| f.path.starts_with("HSO/HSO_coding") && f.rows > 10).unwrap();
    assert!(identity_numbers(&std::fs::read_to_string(demo_dir.join(&coding.path)).unwrap()) > 10);

    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |_| true);
    let etl = etl_at(dir.path());
    etl.run(&sources(&incoming)).await.unwrap();
    let lake_dir = dir.path().join("lake");
    let mut parquet_files = 0;
    for (path, _) in listing(&lake_dir) {
        let full = lake_dir.join(&path);
        let found = if path.ends_with(".parquet") {
            parquet_files += 1;
            read_parquet(&full).iter().map(|b| identity_numbers(&batch_text(b))).sum()
        } else {
            identity_numbers(&String::from_utf8_lossy(&std::fs::read(&full).unwrap()))
        };
        assert_eq!(found, 0, "{path} holds identity numbers");
    }
    assert!(parquet_files > 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_reloads_the_newest_delivery_of_each_period_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |p| p.starts_with("HN/"));
    let etl = etl_at(dir.path());
    etl.run(&sources(&incoming)).await.unwrap();
    let before = etl.lake.snapshot().await.unwrap();
    let hn = sources(&incoming).into_iter().find(|s| s.name == "hn").unwrap();
    let from = lms_schemas::Period::new(2024, 8).unwrap();
    let to = lms_schemas::Period::new(2024, 9).unwrap();
    let report = etl.backfill(&hn, lms_etl::Backfill { from, to }).await.unwrap();
    assert_eq!(report.version, Some(2));
    assert_eq!(report.deliveries.len(), 6, "three extracts for two months");
    let after = etl.lake.snapshot().await.unwrap();
    for (key, d) in &after.periods {
        let old = &before.periods[key];
        let in_range = key.period == "2024-08" || key.period == "2024-09";
        assert_eq!(d.run_id != old.run_id, in_range, "{key:?}");
        assert_eq!(
            (d.file.as_str(), d.rows_loaded),
            (old.file.as_str(), old.rows_loaded),
            "{key:?}: same delivery, same rows"
        );
    }
    // The reloaded periods' old files are gone from the live set, and nothing else changed.
    let removed: BTreeSet<&String> = before.files.keys().filter(|p| !after.files.contains_key(*p)).collect();
    assert!(removed.iter().all(|p| p.contains("period=2024-08") || p.contains("period=2024-09")), "{removed:?}");
}

/// A local source's file is read where it is: every pass reads the bytes that were hashed, and a
/// file written to after hashing is refused, not loaded under the old hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_file_is_read_as_hashed_and_a_change_is_caught() {
    use sha2::Digest;
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |p| p.starts_with("HN/"));
    let source = sources(&incoming).into_iter().find(|s| s.rhf == lms_schemas::Rhf::Hn).unwrap();
    let listed = source.list().await.unwrap();
    let first = &listed[0];
    let fetched = source.fetch(first).await.unwrap();
    let path = incoming.join("HN").join(&first.name);
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(fetched.sha256, hex::encode(sha2::Sha256::digest(&on_disk)));
    assert_eq!(fetched.size, on_disk.len() as u64);
    let opener = fetched.opener().unwrap();
    for _pass in 0..2 {
        let mut bytes = Vec::new();
        opener.open().unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, on_disk, "each pass reads the whole file from its start");
    }
    assert_eq!(fetched.verify_unchanged(), Ok(()));
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"\n").unwrap();
    let err = fetched.verify_unchanged().unwrap_err();
    assert!(err.contains("changed while it was loaded"), "{err}");
}

/// The extract files' layout (docs/decisions.md): unique columns delta-encoded without dictionary or
/// statistics; among text columns only the pruning keys keep min/max; numbers and dates keep theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extract_files_keep_statistics_where_they_prune() {
    use parquet::basic::Encoding;
    use parquet::file::reader::FileReader;
    let dir = tempfile::tempdir().unwrap();
    let incoming = incoming_with(dir.path(), |p| p.starts_with("HSO/HSO_coding_"));
    let etl = etl_at(dir.path());
    etl.run(&sources(&incoming)).await.unwrap();
    let snapshot = etl.lake.snapshot().await.unwrap();
    let file = snapshot.table_files("coding").next().expect("a coding file");
    let reader = parquet::file::reader::SerializedFileReader::new(
        std::fs::File::open(dir.path().join("lake").join(&file.path)).unwrap(),
    )
    .unwrap();
    let group = reader.metadata().row_group(0);
    let column = |name: &str| {
        group.columns().iter().find(|c| c.column_path().string() == name).unwrap_or_else(|| panic!("no column {name}"))
    };
    for (name, encoding) in [
        ("line", Encoding::DELTA_BINARY_PACKED),
        ("kontakt_id", Encoding::DELTA_BYTE_ARRAY),
        ("person", Encoding::DELTA_LENGTH_BYTE_ARRAY),
    ] {
        let c = column(name);
        assert!(c.encodings().any(|e| e == encoding), "{name}: {:?}", c.encodings().collect::<Vec<_>>());
        assert!(!c.encodings().any(|e| e == Encoding::RLE_DICTIONARY), "{name} has no dictionary");
        assert!(c.statistics().is_none(), "{name} has no statistics");
    }
    for name in ["rhf", "hf", "period", "kontaktdato", "alder"] {
        let stats = column(name).statistics().unwrap_or_else(|| panic!("{name} keeps statistics"));
        assert!(stats.min_bytes_opt().is_some(), "{name} has a minimum");
    }
    for name in ["bostedskommune", "hovedtilstand", "delivery"] {
        assert!(column(name).statistics().is_none_or(|s| s.min_bytes_opt().is_none()), "{name} has no min/max");
    }
}

/// A region's months arrive one pass at a time: the tenth commit leaves a checkpoint; a pass after
/// it, reading the lake from the checkpoint, still knows every delivery it has loaded; and the lake
/// opened from the checkpoint is the lake replayed from version 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_passes_leave_a_checkpoint_that_reads_as_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let staged = incoming_with(dir.path(), |p| p.starts_with("HN/")).join("HN");
    let drop = dir.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let source = lms_etl::Source::new("hn", lms_schemas::Rhf::Hn, None, &format!("file://{}", drop.display())).unwrap();
    let etl = etl_at(dir.path());
    for month in 1..=12u64 {
        let tag = format!("_2024-{month:02}");
        for entry in std::fs::read_dir(&staged).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.contains(&tag) {
                std::fs::rename(staged.join(&name), drop.join(&name)).unwrap();
            }
        }
        let report = etl.run(std::slice::from_ref(&source)).await.unwrap();
        assert_eq!(report.version, Some(month), "the pass of month {month}");
    }
    let log = dir.path().join("lake").join("_log");
    assert!(log.join(format!("{:020}.checkpoint.json", lms_etl::lake::CHECKPOINT_INTERVAL)).exists());
    let again = etl.run(std::slice::from_ref(&source)).await.unwrap();
    assert_eq!(again.version, None, "nothing new: the deliveries before the checkpoint are known from it");
    assert_eq!(again.skipped as usize, std::fs::read_dir(&drop).unwrap().count());
    let opened = etl.lake.snapshot().await.unwrap();
    assert_eq!(opened.version, 12);
    std::fs::remove_file(log.join("_last_checkpoint")).unwrap();
    assert_eq!(etl.lake.snapshot().await.unwrap(), opened, "the replay from version 1");
}
