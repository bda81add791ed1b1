//! Incremental publishing: after each change to the lake, a build that takes the unchanged years
//! from the publication it replaces gives what a full build gives — the same digest, rows and
//! file bytes — and rebuilds only the years whose coding or activity files changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lms_etl::{Etl, EtlOptions, Lake, Publish, Snapshot, Source};
use lms_queries::IndicatorPublisher;
use lms_queries::publish::{BuildOptions, Published, build};
use lms_queries::tables::published_schemas;
use lms_schemas::contract::ExtractKind;
use lms_schemas::delivery::{Delivery, Period};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Reference, Rhf};

const REGIONS: [(&str, Rhf); 4] = [("hso", Rhf::Hso), ("hv", Rhf::Hv), ("hmn", Rhf::Hmn), ("hn", Rhf::Hn)];

struct Lab {
    _dir: tempfile::TempDir,
    input: PathBuf,
    staged: PathBuf,
    lake_dir: PathBuf,
    url: String,
    sources: Vec<Source>,
}

impl Lab {
    fn new(first: i32, last: i32) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        let reference = Reference::embedded().unwrap();
        let options =
            lms_generate::Options { seed: 11, first_year: first, last_year: last, scale: 0.02, codes_of_2024: false };
        lms_generate::generate(&input, &options, &reference).unwrap();
        let staged = dir.path().join("staged");
        let lake_dir = dir.path().join("lake");
        std::fs::create_dir_all(&lake_dir).unwrap();
        let sources = REGIONS
            .iter()
            .map(|(name, rhf)| {
                let path = staged.join(rhf.code());
                std::fs::create_dir_all(&path).unwrap();
                Source::new(name, *rhf, None, &format!("file://{}", path.display())).unwrap()
            })
            .collect();
        let url = format!("file://{}", lake_dir.display());
        Lab { _dir: dir, input, staged, lake_dir, url, sources }
    }

    /// Puts the generated deliveries `pick` chooses where the sources see them; returns how many.
    fn stage(&self, pick: impl Fn(Option<&Delivery>) -> bool) -> usize {
        let mut n = 0;
        for (_, rhf) in REGIONS {
            for entry in std::fs::read_dir(self.input.join(rhf.code())).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                if pick(Delivery::parse(&name).ok().as_ref()) {
                    std::fs::copy(entry.path(), self.staged.join(rhf.code()).join(&name)).unwrap();
                    n += 1;
                }
            }
        }
        n
    }

    fn etl(&self, publisher: Option<Arc<dyn Publish>>) -> Etl {
        Etl {
            lake: lms_lake::Lake::open(&self.url).unwrap(),
            reference: Arc::new(Reference::embedded().unwrap()),
            key: PseudonymKey::from_hex(&"05".repeat(32)).unwrap(),
            options: EtlOptions::default(),
            publisher,
        }
    }

    fn publisher(&self, min_count: i64) -> Option<Arc<dyn Publish>> {
        Some(Arc::new(IndicatorPublisher::new(lms_queries::publish::BuildOptions { min_count, ..Default::default() })))
    }

    /// Loads what is staged without building the published tables: the lake's publication is then
    /// that of an earlier version, as in the commit being built.
    async fn load_data_only(&self) -> Snapshot {
        let etl = self.etl(None);
        let report = etl.run(&self.sources).await.unwrap();
        assert!(report.version.is_some(), "something new was staged");
        etl.lake.snapshot().await.unwrap()
    }
}

/// Which generated deliveries a step stages.
type Pick = dyn Fn(Option<&Delivery>) -> bool;

/// One change to the lake, and the years a build after it computes.
type Change = (&'static str, Box<Pick>, &'static [i32], &'static [i32]);

fn in_period(d: Option<&Delivery>, year: i32, month: u32) -> bool {
    d.is_some_and(|d| d.period == Period::new(year, month).unwrap())
}

async fn built(lake: &Lake, snapshot: &Snapshot, reuse: bool) -> Published {
    let options = BuildOptions { reuse, ..BuildOptions::default() };
    build(lake, snapshot, &options).await.unwrap()
}

/// Writes each published table of `p` as the publisher does and returns the files' bytes.
async fn written(lab: &Lab, lake: &Lake, p: &Published, name: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for ((table, schema), batches) in published_schemas().into_iter().zip([&p.indicator_values, &p.variation]) {
        let path = format!("scratch/{name}-{table}.parquet");
        lms_lake::write::write_file(lake, table, &path, schema, batches, &[]).await.unwrap();
        out.push(std::fs::read(lab.lake_dir.join(&path)).unwrap());
    }
    out
}

/// The build reusing the publication in `snapshot` rebuilds the years `expected` of the indicators
/// of contacts, computes the evaluation indicators for `evaluations` (at least: the years of the
/// new responses' respondents may add to them) and equals a full build.
async fn the_same_as_a_full_build(lab: &Lab, snapshot: &Snapshot, expected: &[i32], evaluations: &[i32]) -> Published {
    let lake = lms_lake::Lake::open(&lab.url).unwrap();
    let incremental = built(&lake, snapshot, true).await;
    let full = built(&lake, snapshot, false).await;
    let set = |years: &[i32]| years.iter().copied().collect::<BTreeSet<i32>>();
    assert_eq!(incremental.rebuilt, Some(set(expected)));
    let evaluation_years = incremental.evaluation_years.clone().expect("evaluation indicators computed in part");
    assert!(evaluation_years.is_superset(&set(evaluations)), "{evaluation_years:?}");
    assert!(evaluation_years.len() < 3, "{evaluation_years:?}");
    assert_eq!((full.rebuilt.as_ref(), full.evaluation_years.as_ref()), (None, None));
    assert_eq!(incremental.digest, full.digest);
    assert_eq!(incremental.indicator_values, full.indicator_values);
    assert_eq!(incremental.variation, full.variation);
    assert_eq!(incremental.funnel, full.funnel);
    assert_eq!(incremental.data_quality, full.data_quality, "residence counts reused where not rebuilt");
    assert_eq!(incremental.basis, full.basis);
    assert!(written(lab, &lake, &incremental, "incremental").await == written(lab, &lake, &full, "full").await);
    // What was reused was not computed: fewer cells went through the build.
    assert!(incremental.cells.len() < full.cells.len(), "{} of {}", incremental.cells.len(), full.cells.len());
    full
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_commit_rebuilds_the_years_it_touches_and_publishes_what_a_full_build_does() {
    let lab = Lab::new(2023, 2025);
    // The lake before: 2023 and 2024 up to November, published by a full build.
    let before_december = |d: Option<&Delivery>| d.is_none_or(|d| d.period < Period::new(2024, 12).unwrap());
    assert!(lab.stage(before_december) > 100);
    let publishing = lab.etl(lab.publisher(5));
    publishing.run(&lab.sources).await.unwrap();
    let snapshot = publishing.lake.snapshot().await.unwrap();
    assert!(snapshot.digest.is_some());
    let nothing_changed = built(&publishing.lake, &snapshot, true).await;
    assert_eq!(nothing_changed.rebuilt, Some(BTreeSet::new()));
    assert_eq!(nothing_changed.digest, snapshot.digest.clone().unwrap());

    // Each change, loaded without publishing, then published by the ETL (incrementally).
    // (what, which deliveries, years of contacts computed, years of evaluations computed at least)
    let changes: [Change; 3] = [
        (
            "December's course activity and contacts",
            Box::new(|d| in_period(d, 2024, 12) && d.is_some_and(|d| d.extract != ExtractKind::Evaluation)),
            &[2024],
            &[2024],
        ),
        // New responses alone: no year of contacts is rebuilt.
        (
            "December's evaluations",
            Box::new(|d| in_period(d, 2024, 12) && d.is_some_and(|d| d.extract == ExtractKind::Evaluation)),
            &[],
            &[2024],
        ),
        ("January 2025", Box::new(|d| in_period(d, 2025, 1)), &[2025], &[2025]),
    ];
    for (what, pick, years, evaluations) in changes {
        assert!(lab.stage(pick) > 0, "{what}");
        let snapshot = lab.load_data_only().await;
        let full = the_same_as_a_full_build(&lab, &snapshot, years, evaluations).await;
        // With January 2025, 2023–2025 all have contacts: the first pooled window, 2023-2025, for
        // every residence-view standardised rate, with its variation row; none before.
        let pooled = |id: &str| full.cells.iter().filter(|c| c.indicator == id && c.period == "2023-2025").count();
        let windows = full.cells.iter().filter(|c| c.period.len() > 4).count();
        if what == "January 2025" {
            for id in [
                "education_contacts_rate",
                "education_persons_rate",
                "education_rate_by_size_class",
                "education_rate_by_sex",
                "sami_area_education_rate",
            ] {
                assert!(pooled(id) > 0, "{id}: pooled cells");
                assert!(full.cells.iter().all(|c| c.period.len() == 4 || c.year == 2024), "the middle year");
            }
            let text = String::from_utf8(lms_queries::format::csv(&full.variation)).unwrap();
            assert!(text.contains(",2024,2023-2025,"), "a pooled variation row: {text}");
        } else {
            assert_eq!(windows, 0, "{what}: no window of three years yet");
        }
        publishing.republish().await.unwrap();
        let published = publishing.lake.snapshot().await.unwrap();
        assert_eq!(published.digest, Some(full.digest), "{what}: the ETL's incremental publication");
    }

    // Responses of February 2025 that replace, by the latest-response rule, the `etter` responses
    // their respondents gave in 2024: the 2024 cells change too, so 2024 is computed again.
    let (header, moved) = later_answers(&lab.staged.join("HSO"));
    assert!(moved.len() >= 10, "{} `etter` responses of late 2024 to move", moved.len());
    std::fs::write(
        lab.staged.join("HSO").join("HSO_evaluation_2025-02.csv"),
        format!("{header}\n{}\n", moved.join("\n")),
    )
    .unwrap();
    let snapshot = lab.load_data_only().await;
    let full = the_same_as_a_full_build(&lab, &snapshot, &[], &[2024, 2025]).await;
    publishing.republish().await.unwrap();
    assert_eq!(publishing.lake.snapshot().await.unwrap().digest, Some(full.digest));

    // A new version of a 2023 delivery replaces that period's files: 2023 is rebuilt.
    let (_, hv) = REGIONS[1];
    let old = std::fs::read_dir(lab.staged.join(hv.code()))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let d = Delivery::parse(p.file_name().unwrap().to_str().unwrap());
            d.is_ok_and(|d| d.extract == ExtractKind::Coding && d.period == Period::new(2023, 3).unwrap())
        })
        .expect("a coding delivery of 2023-03");
    let newer = replaced_by(&old, 9);
    std::fs::copy(&old, &newer).unwrap();
    let snapshot = lab.load_data_only().await;
    the_same_as_a_full_build(&lab, &snapshot, &[2023], &[2023]).await;

    // A publisher with other definitions (here the threshold) rebuilds everything.
    let other = lab.etl(lab.publisher(3));
    other.republish().await.unwrap();
    let published = other.lake.snapshot().await.unwrap();
    let options = BuildOptions { min_count: 3, ..BuildOptions::default() };
    let full = build(&other.lake, &published, &options).await.unwrap();
    assert_eq!(published.digest, Some(full.digest));
}

/// `dir/RHF_extract_YYYY-MM_vN.csv` for a delivery file.
fn replaced_by(old: &Path, version: u32) -> PathBuf {
    let name = old.file_name().unwrap().to_str().unwrap();
    let (stem, extension) = name.rsplit_once('.').unwrap();
    let parts: Vec<&str> = stem.split('_').collect();
    old.with_file_name(format!("{}_{}_{}_v{version}.{extension}", parts[0], parts[1], parts[2]))
}

/// The header of Helse Sør-Øst's evaluation files (plain CSV, ISO dates) and, for the `etter`
/// responses of its November and December 2024 files, the same answers again, dated 10 February
/// 2025 under new ids.
fn later_answers(dir: &Path) -> (String, Vec<String>) {
    let mut header = String::new();
    let mut moved = Vec::new();
    for month in ["11", "12"] {
        let text = std::fs::read_to_string(dir.join(format!("HSO_evaluation_2024-{month}.csv"))).unwrap();
        let mut lines = text.lines();
        header = lines.next().unwrap().to_string();
        assert!(header.starts_with("rhf,hf,kurs_id,svar_id,deltaker,rolle,maletidspunkt,dato,"), "{header}");
        for line in lines.filter(|l| !l.contains('"')) {
            let mut fields: Vec<&str> = line.split(',').collect();
            if fields.len() > 7 && fields[4].starts_with('P') && fields[6] == "etter" && moved.len() < 40 {
                let id = format!("MOVED-S2025-02-{:05}", moved.len() + 1);
                fields[3] = &id;
                fields[7] = "2025-02-10";
                moved.push(fields.join(","));
            }
        }
    }
    (header, moved)
}
