//! The published tables ride in the ETL's commits: built from the version they describe, visible
//! with it and never without it; and on the demo data they find the gaps the generator planted.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Float64Array, Int64Array, StringArray};
use lms_etl::{Etl, EtlOptions, Publish, Source};
use lms_queries::{Access, IndicatorPublisher, Warehouse};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Reference, Rhf};

struct Demo {
    dir: tempfile::TempDir,
    url: String,
    sources: Vec<Source>,
}

/// Demo deliveries of the four regions for `years`, and an empty lake.
fn demo(first: i32, last: i32, scale: f64) -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let reference = Arc::new(Reference::embedded().unwrap());
    let options = lms_generate::Options { seed: 7, first_year: first, last_year: last, scale, codes_of_2024: false };
    lms_generate::generate(&dir.path().join("in"), &options, &reference).unwrap();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    let url = format!("file://{}", dir.path().join("lake").display());
    let sources = [("hso", Rhf::Hso), ("hv", Rhf::Hv), ("hmn", Rhf::Hmn), ("hn", Rhf::Hn)]
        .into_iter()
        .map(|(name, rhf)| {
            let path = dir.path().join("in").join(rhf.code());
            Source::new(name, rhf, None, &format!("file://{}", path.display())).unwrap()
        })
        .collect();
    Demo { dir, url, sources }
}

fn etl(url: &str, publisher: Option<Arc<dyn Publish>>) -> Etl {
    Etl {
        lake: lms_lake::Lake::open(url).unwrap(),
        reference: Arc::new(Reference::embedded().unwrap()),
        key: PseudonymKey::from_hex(&"03".repeat(32)).unwrap(),
        options: EtlOptions::default(),
        publisher,
    }
}

fn publisher(min_count: i64) -> Option<Arc<dyn Publish>> {
    Some(Arc::new(IndicatorPublisher::new(lms_queries::publish::BuildOptions { min_count, ..Default::default() })))
}

async fn scalar(w: &Warehouse, sql: &str) -> i64 {
    let b = w.sql(sql).await.unwrap();
    b[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0)
}

/// A publisher that fails, as a bug in an indicator would.
#[derive(Debug)]
struct Broken;

#[async_trait::async_trait]
impl Publish for Broken {
    fn tables(&self) -> &[&str] {
        &["indicator_values"]
    }
    fn fingerprint(&self) -> String {
        "broken".into()
    }
    async fn publish(
        &self,
        _: &lms_etl::Lake,
        _: &lms_etl::Snapshot,
        _: &str,
    ) -> Result<lms_etl::Publication, lms_lake::LakeError> {
        Err(lms_lake::LakeError::Publish("an indicator failed".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_tables_are_part_of_each_commit() {
    let d = demo(2024, 2024, 0.02);
    let hv = &d.sources[1..2];

    // A failing build commits nothing: no data without its indicators.
    let err = etl(&d.url, Some(Arc::new(Broken))).run(hv).await.unwrap_err();
    assert!(err.to_string().contains("an indicator failed"), "{err}");
    let lake = lms_lake::Lake::open(&d.url).unwrap();
    assert_eq!(lake.snapshot().await.unwrap().version, 0);

    let report = etl(&d.url, publisher(5)).run(hv).await.unwrap();
    assert_eq!(report.version, Some(1));
    let snapshot = lake.snapshot().await.unwrap();
    for table in lms_queries::PUBLISHED {
        assert_eq!(snapshot.table_files(table).count(), 1, "{table} in version 1");
    }
    let w = Warehouse::open(&lms_lake::Lake::open(&d.url).unwrap(), Access::Published).await.unwrap();
    // Provider-view cells only for the region that delivered; residence-view cells for every
    // catchment area with inhabitants.
    let cells = |rhf: &str, id: &str| {
        format!("SELECT count(*) FROM indicator_values WHERE rhf = '{rhf}' AND indicator = '{id}'")
    };
    assert!(scalar(&w, &cells("HV", "a0099_share")).await > 0);
    assert_eq!(scalar(&w, &cells("HSO", "a0099_share")).await, 0);
    assert_eq!(
        scalar(&w, &cells("HSO", "education_contacts_rate")).await,
        1 + 10,
        "HSO and its 10 catchment areas (Sunnaas has none)"
    );

    // Nothing new, same definitions: no commit. Another threshold: the tables are rebuilt alone.
    assert_eq!(etl(&d.url, publisher(5)).run(hv).await.unwrap().version, None);
    let report = etl(&d.url, publisher(10)).run(hv).await.unwrap();
    assert_eq!(report.version, Some(2));
    assert!(report.deliveries.is_empty());
    let after = lake.snapshot().await.unwrap();
    let data = |s: &lms_etl::Snapshot| {
        s.files.values().filter(|f| !lms_queries::PUBLISHED.contains(&f.table.as_str())).count()
    };
    assert_eq!(data(&after), data(&snapshot), "the data files are untouched");
    for table in lms_queries::PUBLISHED {
        assert_eq!(after.table_files(table).count(), 1, "{table}: the old file is replaced");
    }
    let w = Warehouse::open(&lms_lake::Lake::open(&d.url).unwrap(), Access::Published).await.unwrap();
    let small = "SELECT count(*) FROM indicator_values WHERE NOT suppressed AND numerator BETWEEN 1 AND 9";
    assert_eq!(scalar(&w, small).await, 0, "threshold 10 applies");

    // A second region arrives: one commit holds its data and indicators built over both.
    let report = etl(&d.url, publisher(10)).run(&d.sources[..2]).await.unwrap();
    assert_eq!(report.version, Some(3));
    let w = Warehouse::open(&lms_lake::Lake::open(&d.url).unwrap(), Access::Published).await.unwrap();
    assert!(scalar(&w, &cells("HSO", "a0099_share")).await > 0);
    drop(d.dir);
}

/// The generator plants an equity gap (residents of the smallest municipalities, size class 4, get
/// less group education) and unwarranted variation between catchment areas; the indicators must
/// show both, with intervals that settle it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planted_gaps_are_found_in_the_demo_data() {
    let d = demo(2023, 2024, 0.05);
    etl(&d.url, publisher(5)).run(&d.sources).await.unwrap();
    let w = Warehouse::open(&lms_lake::Lake::open(&d.url).unwrap(), Access::Published).await.unwrap();
    let rows = w
        .sql(
            "SELECT year, breakdown, value, ci_low, ci_high FROM indicator_values
             WHERE indicator = 'education_rate_by_size_class' AND level = 'national' AND breakdown <> ''
             ORDER BY year, breakdown",
        )
        .await
        .unwrap();
    let mut by_year: std::collections::BTreeMap<i32, Vec<(String, f64, f64, f64)>> = Default::default();
    for b in &rows {
        let year = b.column(0).as_any().downcast_ref::<datafusion::arrow::array::Int32Array>().unwrap();
        let breakdown = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        let f = |i: usize| b.column(i).as_any().downcast_ref::<Float64Array>().unwrap();
        for r in 0..b.num_rows() {
            by_year.entry(year.value(r)).or_default().push((
                breakdown.value(r).to_string(),
                f(2).value(r),
                f(3).value(r),
                f(4).value(r),
            ));
        }
    }
    assert_eq!(by_year.keys().copied().collect::<Vec<_>>(), [2023, 2024]);
    for (year, classes) in &by_year {
        let small = classes.iter().find(|c| c.0 == "size_class=4").unwrap();
        for other in classes.iter().filter(|c| c.0 != "size_class=4") {
            assert!(
                small.3 < other.2,
                "{year}: size class 4 ({:.3}, up to {:.3}) should lie below {} (from {:.3})",
                small.1,
                small.3,
                other.0,
                other.2
            );
        }
    }
    // Variation between catchment areas: the highest rate is well above the lowest, and the
    // systematic component is positive (more variation than chance would give).
    let v = w
        .sql("SELECT ratio, scv, suppressed FROM variation WHERE indicator = 'education_contacts_rate' ORDER BY year")
        .await
        .unwrap();
    let ratio = v[0].column(0).as_any().downcast_ref::<Float64Array>().unwrap();
    let scv = v[0].column(1).as_any().downcast_ref::<Float64Array>().unwrap();
    let suppressed = v[0].column(2).as_any().downcast_ref::<BooleanArray>().unwrap();
    assert_eq!(v[0].num_rows(), 2);
    for i in 0..2 {
        assert!(!suppressed.value(i) && !ratio.is_null(i));
        assert!(ratio.value(i) > 2.0, "FT1 {}", ratio.value(i));
        assert!(scv.value(i) > 0.0, "SCV {}", scv.value(i));
    }
}

/// The reference data is part of what a publication is built from: its version is in the
/// publisher's fingerprint (so a new version republishes, as another threshold does above), and
/// any change to any reference table, the municipality code history included, is a new version.
#[test]
fn a_new_reference_version_is_a_new_fingerprint() {
    use lms_queries::publish::{reference_version, reference_version_of};
    use lms_schemas::reference::TABLES;
    let current = reference_version();
    assert_eq!(current.len(), 16);
    let fingerprint =
        IndicatorPublisher::new(lms_queries::publish::BuildOptions { min_count: 5, ..Default::default() })
            .fingerprint();
    assert!(fingerprint.ends_with(&format!(";reference={current}")), "{fingerprint}");
    assert!(TABLES.iter().any(|(name, _)| *name == "kommune_history"));
    for i in 0..TABLES.len() {
        let mut changed: Vec<(&str, String)> = TABLES.iter().map(|(n, t)| (*n, t.to_string())).collect();
        changed[i].1.push('\n');
        let changed: Vec<(&str, &str)> = changed.iter().map(|(n, t)| (*n, t.as_str())).collect();
        assert_ne!(reference_version_of(&changed), current, "a change to {}", TABLES[i].0);
    }
    // Text moved from the end of one table to the start of the next is a change too.
    let (a, b) = (TABLES[0].1, TABLES[1].1);
    let b_with_a_tail = format!("{}{b}", &a[a.len() - 1..]);
    let moved = [(TABLES[0].0, &a[..a.len() - 1]), (TABLES[1].0, b_with_a_tail.as_str())];
    assert_ne!(reference_version_of(&moved), reference_version_of(&TABLES[..2]));
}

/// The tables a statement names, for the access log: CTEs are not tables, names are lower-cased
/// as the session resolves them, subqueries and joins count, and what does not parse names none.
#[test]
fn the_tables_a_statement_reads() {
    use lms_queries::tables_read;
    assert_eq!(tables_read("SELECT * FROM indicator_values"), vec!["indicator_values"]);
    assert_eq!(
        tables_read(
            "WITH t AS (SELECT * FROM Variation) SELECT * FROM t JOIN funnel f ON true \
             WHERE f.year IN (SELECT year FROM indicator_values)"
        ),
        vec!["funnel", "indicator_values", "variation"]
    );
    assert_eq!(tables_read("SELECT 1"), Vec::<String>::new());
    assert_eq!(tables_read("SELEC nonsense FROM"), Vec::<String>::new());
    assert_eq!(tables_read("select * from activity a, activity b"), vec!["activity"]);
}
