//! Operating a health register on a real lake: key rotation (`lms etl rekey`: every pseudonym
//! changes, every published figure stays, a person keeps one pseudonym across the rotation, a pass
//! with the wrong key is refused, a rekey that fails leaves the lake as it was) and retention (every
//! kept snapshot still answers `lms query --version`, the one that was let go does not).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lms_etl::{Etl, EtlOptions, Source};
use lms_lake::{Changes, Lake, Transaction, new_run_id};
use lms_queries::publish::BuildOptions;
use lms_queries::{Access, IndicatorPublisher, Warehouse};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Reference, Rhf};

fn key(byte: &str) -> PseudonymKey {
    PseudonymKey::from_hex(&byte.repeat(32)).unwrap()
}

fn publisher() -> Arc<IndicatorPublisher> {
    Arc::new(IndicatorPublisher::new(BuildOptions { min_count: 5, ..BuildOptions::default() }))
}

/// Two small years of Helse Vest's demo deliveries in `dir/in`; `held` months (a `YYYY-MM` part of
/// the name) moved to `dir/held`.
fn deliveries(dir: &Path, held: &str) {
    let reference = Reference::embedded().unwrap();
    let options =
        lms_generate::Options { seed: 5, first_year: 2023, last_year: 2024, scale: 0.02, codes_of_2024: false };
    lms_generate::generate(&dir.join("in"), &options, &reference).unwrap();
    std::fs::create_dir_all(dir.join("held")).unwrap();
    for e in std::fs::read_dir(dir.join("in").join("HV")).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().contains(held) {
            std::fs::rename(e.path(), dir.join("held").join(e.file_name())).unwrap();
        }
    }
}

fn etl(url: &str, key: PseudonymKey) -> Etl {
    Etl {
        lake: Lake::open(url).unwrap(),
        reference: Arc::new(Reference::embedded().unwrap()),
        key,
        options: EtlOptions::default(),
        publisher: Some(publisher()),
    }
}

fn source(dir: &Path) -> Vec<Source> {
    vec![Source::new("hv", Rhf::Hv, None, &format!("file://{}", dir.display())).unwrap()]
}

/// Every pseudonym of the person-level tables by (table, delivery, line, rule), and how many.
async fn people(lake: &Lake) -> BTreeMap<String, String> {
    let w = Warehouse::open(lake, Access::Warehouse).await.unwrap();
    let mut out = BTreeMap::new();
    // (`activity` and `evaluation` hold no person: courses, and the evaluation tool's own ids.)
    for (table, extra) in [("coding", "''"), ("quarantine", "rule || coalesce(\"column\", '')")] {
        let sql = format!(
            "SELECT delivery || ':' || CAST(line AS VARCHAR) || ':' || {extra} AS k, person FROM {table} \
             WHERE person IS NOT NULL"
        );
        for b in w.sql(&sql).await.unwrap() {
            use datafusion::arrow::{array::AsArray, compute::cast, datatypes::DataType};
            let (k, p) = (cast(b.column(0), &DataType::Utf8).unwrap(), cast(b.column(1), &DataType::Utf8).unwrap());
            let (k, p) = (k.as_string::<i32>(), p.as_string::<i32>());
            for i in 0..b.num_rows() {
                let before = out.insert(format!("{table}:{}", k.value(i)), p.value(i).to_string());
                assert!(before.is_none(), "one row per key: {table}:{}", k.value(i));
            }
        }
    }
    out
}

/// The published tables rebuilt in full on the lake as it is: their digest.
async fn rebuilt_digest(lake: &Lake) -> String {
    let snapshot = lake.snapshot().await.unwrap();
    let full = Arc::new(IndicatorPublisher { full: true, ..IndicatorPublisher::new(publisher().options.clone()) });
    let done = Transaction::new(lake, &new_run_id())
        .publisher(Some(full))
        .republish(true)
        .commit(snapshot, |_| Changes::default())
        .await
        .unwrap();
    done.snapshot.digest.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rekey_changes_every_pseudonym_and_no_figure() {
    let dir = tempfile::tempdir().unwrap();
    // December 2024 held back, to load after the rotation.
    deliveries(dir.path(), "2024-12");
    let (old, new) = (key("0a"), key("0b"));
    let url = format!("file://{}", dir.path().join("lake").display());
    etl(&url, old.clone()).run(&source(&dir.path().join("in").join("HV"))).await.unwrap();
    let lake = Lake::open(&url).unwrap();
    let before = lake.snapshot().await.unwrap();
    assert_eq!(before.key_id.as_deref(), Some(old.id().as_str()), "a pass records its key's id");
    let pseudonyms = people(&lake).await;
    assert!(pseudonyms.len() > 1000, "{} pseudonyms", pseudonyms.len());

    // A rekey that fails half-way (a file it must read is gone) changes nothing and leaves nothing.
    let files_before = crate::files_below(&dir.path().join("lake"));
    let victim = before.files.values().find(|f| f.table == "coding").unwrap().path.clone();
    let victim_path = dir.path().join("lake").join(&victim);
    let bytes = std::fs::read(&victim_path).unwrap();
    std::fs::remove_file(&victim_path).unwrap();
    assert!(lms_etl::rekey::rekey(&lake, &old, &new).await.is_err());
    std::fs::write(&victim_path, bytes).unwrap();
    assert_eq!(crate::files_below(&dir.path().join("lake")), files_before, "its files were deleted");
    assert_eq!(lake.snapshot().await.unwrap().version, before.version);
    assert_eq!(people(&lake).await, pseudonyms, "the old pseudonyms, all of them");

    let done = lms_etl::rekey::rekey(&lake, &old, &new).await.unwrap();
    let after = lake.snapshot().await.unwrap();
    assert_eq!(after.version, done.version);
    assert_eq!(after.key_id.as_deref(), Some(old.then(&new).id().as_str()));
    assert_eq!((after.published.clone(), after.digest.clone()), (before.published.clone(), before.digest.clone()));
    // Every pseudonym is the new key's pseudonym of the old one: changed, and one per person still.
    let again = people(&lake).await;
    assert_eq!(again.len(), pseudonyms.len());
    for (k, p) in &pseudonyms {
        assert_eq!(again[k], new.pseudonym(p), "{k}");
        assert_ne!(&again[k], p, "{k}");
    }
    let with_person = ["coding", "quarantine"];
    assert_eq!(
        done.rows,
        after.files.values().filter(|f| with_person.contains(&f.table.as_str())).map(|f| f.rows).sum::<u64>()
    );
    // The deliveries' records follow their files: each loaded period's files are live.
    for d in after.periods.values() {
        for f in &d.data_files {
            assert!(after.files.contains_key(f), "{} names {f}", d.file);
        }
    }
    // Every published figure: rebuilt from the rekeyed rows, the same digest.
    assert_eq!(rebuilt_digest(&lake).await, before.digest.clone().unwrap());

    // A pass with the old key alone is refused before it loads anything; with the new key alone too.
    let held = dir.path().join("held");
    for wrong in [old.clone(), new.clone()] {
        let e = etl(&url, wrong).run(&source(&held)).await.unwrap_err();
        assert!(e.to_string().contains("pseudonymisation key"), "{e}");
    }
    let refused_version = lake.snapshot().await.unwrap().version;
    // With the chain it loads December, and the figures equal those of a lake that never rotated.
    etl(&url, done.chain.clone()).run(&source(&held)).await.unwrap();
    assert!(lake.snapshot().await.unwrap().version > refused_version);
    let rotated = lake.snapshot().await.unwrap().digest.unwrap();
    let straight = format!("file://{}", dir.path().join("straight").display());
    let single = etl(&straight, old.clone());
    single.run(&source(&dir.path().join("in").join("HV"))).await.unwrap();
    single.run(&source(&held)).await.unwrap();
    let expected = Lake::open(&straight).unwrap().snapshot().await.unwrap().digest.unwrap();
    assert_eq!(rotated, expected, "a person keeps one pseudonym across the rotation");
}

/// `lms query --version V` on `url`: exit code and output.
fn query_at(url: &str, version: u64, sql: &str) -> (i32, String) {
    let out = crate::lms()
        .args(["query", sql, "--format", "csv", "--lake", url, "--version", &version.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vacuum_keeps_every_kept_snapshot_readable() {
    let dir = tempfile::tempdir().unwrap();
    deliveries(dir.path(), "2024-12");
    let url = format!("file://{}", dir.path().join("lake").display());
    let pass = etl(&url, key("0c"));
    // Version 1: all but December; 2: December (new published tables replace version 1's);
    // 3: the published tables rebuilt (replacing version 2's).
    pass.run(&source(&dir.path().join("in").join("HV"))).await.unwrap();
    pass.run(&source(&dir.path().join("held"))).await.unwrap();
    let lake = Lake::open(&url).unwrap();
    rebuilt_digest(&lake).await;
    let sql = "SELECT (SELECT count(*) FROM coding) AS coding, (SELECT count(*) FROM indicator_values) AS cells";
    let answers: Vec<String> = (1..=3)
        .map(|v| {
            let (code, out) = query_at(&url, v, sql);
            assert_eq!(code, 0, "{out}");
            out
        })
        .collect();
    assert_ne!(answers[0], answers[1], "December added rows and cells");

    // Snapshots kept from just after version 2's commit, two hours from now (so every file no
    // commit added is past the grace): version 1 is let go; 2, current at the cut-off, and 3 stay.
    let v2 = lake.snapshot_at(2).await.unwrap().committed_at.unwrap();
    let v3 = lake.snapshot_at(3).await.unwrap().committed_at.unwrap();
    assert!(v3 > v2);
    let now = chrono::Utc::now() + chrono::Duration::hours(2);
    let cutoff = v2 + (v3 - v2) / 2;
    let retention = lms_lake::vacuum::Retention {
        keep_snapshots: now - cutoff,
        person_level_years: None,
        audit: chrono::Duration::days(730),
        grace: chrono::Duration::hours(1),
    };
    let listed = lms_lake::vacuum::vacuum(&lake, &retention, now, false).await.unwrap();
    // Exactly the files version 2 removed (version 1's published tables), nothing else.
    let s1 = lake.snapshot_at(1).await.unwrap();
    let s2 = lake.snapshot_at(2).await.unwrap();
    let mut expected: Vec<String> = s1.files.keys().filter(|p| !s2.files.contains_key(*p)).cloned().collect();
    expected.sort();
    assert!(!expected.is_empty());
    assert_eq!(listed.garbage.iter().map(|g| g.path.clone()).collect::<Vec<_>>(), expected);
    let done = lms_lake::vacuum::vacuum(&lake, &retention, now, true).await.unwrap();
    assert_eq!(done.garbage.len(), expected.len());
    for p in &expected {
        assert!(!dir.path().join("lake").join(p).exists(), "{p}");
    }
    // Versions 2 and 3 answer as before; version 1 no longer reads.
    for v in 2..=3u64 {
        let (code, out) = query_at(&url, v, sql);
        assert_eq!((code, &out), (0, &answers[v as usize - 1]), "version {v}");
    }
    let (code, out) = query_at(&url, 1, sql);
    assert_ne!(code, 0, "version 1's published files are gone: {out}");
    assert!(out.contains("no longer in the lake"), "an error that says why, not an empty answer: {out}");
}
