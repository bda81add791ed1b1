//! Municipality codes as they were: deliveries of 2022–2023 carry the codes valid on their days
//! (Viken, Vestfold og Telemark, Troms og Finnmark, Ålesund before the split) and count on 2024
//! borders: the same figures as the same data written with 2024 codes, but for the split code's
//! allocation by population shares.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::Datelike;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int64Type, UInt64Type};
use lms_etl::{Etl, EtlOptions, Source};
use lms_queries::publish::{BuildOptions, Published, build};
use lms_queries::{Access, Warehouse};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::reference::{KommuneHistoryRow, allocation_draw};
use lms_schemas::{Reference, Rhf, Rule};

const REGIONS: [(&str, Rhf); 4] = [("hso", Rhf::Hso), ("hv", Rhf::Hv), ("hmn", Rhf::Hmn), ("hn", Rhf::Hn)];

/// Generates the demo deliveries of 2022–2023 into `dir/in`, loads them into `dir/lake` with
/// `reference`, and returns the lake's URL, the manifest and the build of its published tables.
async fn load(
    dir: &Path,
    codes_of_2024: bool,
    reference: Reference,
) -> (String, lms_generate::Manifest, Published, lms_etl::Lake) {
    let embedded = Reference::embedded().unwrap();
    let options = lms_generate::Options { seed: 5, first_year: 2022, last_year: 2023, scale: 0.02, codes_of_2024 };
    let manifest = lms_generate::generate(&dir.join("in"), &options, &embedded).unwrap();
    std::fs::create_dir_all(dir.join("lake")).unwrap();
    let url = format!("file://{}", dir.join("lake").display());
    let etl = Etl {
        lake: lms_lake::Lake::open(&url).unwrap(),
        reference: Arc::new(reference),
        key: PseudonymKey::from_hex(&"09".repeat(32)).unwrap(),
        options: EtlOptions::default(),
        publisher: None,
    };
    let sources: Vec<Source> = REGIONS
        .iter()
        .map(|(name, rhf)| {
            let path = dir.join("in").join(rhf.code());
            Source::new(name, *rhf, None, &format!("file://{}", path.display())).unwrap()
        })
        .collect();
    etl.run(&sources).await.unwrap();
    let snapshot = etl.lake.snapshot().await.unwrap();
    let built = build(&etl.lake, &snapshot, &BuildOptions::default()).await.unwrap();
    (url, manifest, built, etl.lake)
}

async fn rows(url: &str, sql: &str) -> Vec<RecordBatch> {
    Warehouse::open(&lms_lake::Lake::open(url).unwrap(), Access::Warehouse).await.unwrap().sql(sql).await.unwrap()
}

fn texts(batches: &[RecordBatch], col: usize) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let c =
                datafusion::arrow::compute::cast(b.column(col), &datafusion::arrow::datatypes::DataType::Utf8).unwrap();
            c.as_string::<i32>().iter().map(|s| s.unwrap_or_default().to_string()).collect::<Vec<_>>()
        })
        .collect()
}

/// The birth date of the person of each accepted coding row living in 1507, by `rhf/hf/kontakt_id`,
/// read from the delivered files as the load reads them.
fn births_of_1507(incoming: &Path) -> BTreeMap<String, chrono::NaiveDate> {
    let reference = Reference::embedded().unwrap();
    let kind = lms_schemas::ExtractKind::Coding;
    let col = |name| kind.column_index(name).unwrap();
    let mut out = BTreeMap::new();
    for (_, rhf) in REGIONS {
        for entry in std::fs::read_dir(incoming.join(rhf.code())).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.contains("_coding_") {
                continue;
            }
            let _ = lms_schemas::check_delivery(
                &name,
                kind,
                rhf,
                &reference,
                || std::fs::File::open(&path),
                |row| {
                    let text = |i: usize| match &row.values[i] {
                        lms_schemas::Value::Text(s) => s.to_string(),
                        _ => String::new(),
                    };
                    if !row.is_accepted() || text(col("bostedskommune")) != "1507" {
                        return;
                    }
                    if let lms_schemas::Value::Identity(id) = &row.values[col("fodselsnummer")] {
                        let key = format!("{}/{}/{}", text(col("rhf")), text(col("hf")), text(col("kontakt_id")));
                        out.insert(key, id.identity.birth_date);
                    }
                },
            );
        }
    }
    out
}

fn count(batches: &[RecordBatch]) -> i64 {
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_codes_load_and_count_on_2024_borders() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A: the codes of each day, checked against the real code history.
    let (url_a, manifest, a, _) = load(dir_a.path(), false, Reference::embedded().unwrap()).await;
    // B: the same data written with 2024 codes, loaded with a history in which every municipality
    // of 2024 was always valid (as if the reforms had never been).
    let embedded = Reference::embedded().unwrap();
    let always = KommuneHistoryRow::always_valid(&embedded.areas);
    let (_, manifest_b, b, _) =
        load(dir_b.path(), true, Reference::embedded().unwrap().with_kommune_history(always)).await;

    // The old codes are there, and rejected rows are only the planted ones: one code used outside
    // its validity in each region, and no other.
    let planted: usize =
        manifest.files.iter().flat_map(|f| &f.planted).filter(|p| p.rule == Rule::KommuneNotValidOnDate).count();
    assert_eq!(planted, 4, "one in each region");
    assert!(manifest_b.files.iter().flat_map(|f| &f.planted).all(|p| p.rule != Rule::KommuneNotValidOnDate));
    let q = rows(&url_a, "SELECT count(*) FROM quarantine WHERE rule = 'kommune_not_valid_on_date'").await;
    assert_eq!(count(&q) as usize, planted);
    for table in ["coding", "activity"] {
        let expected: u64 = manifest
            .files
            .iter()
            .filter(|f| f.path.contains(&format!("_{table}_")) && f.rejected.is_none() && f.superseded_by.is_none())
            .map(|f| f.expected_loaded())
            .sum();
        let got = count(&rows(&url_a, &format!("SELECT count(*) FROM {table}")).await);
        assert_eq!(got as u64, expected, "{table}: loaded = read − planted");
    }
    let renamed = rows(
        &url_a,
        "SELECT count(*) FROM coding WHERE bostedskommune IN ('3024', '3807', '5401') \
         AND bostedskommune_2024 IN ('3201', '3907', '5501')",
    )
    .await;
    assert!(count(&renamed) > 100, "Bærum, Sandefjord and Tromsø by their codes of 2022–2023");
    let unmapped = rows(
        &url_a,
        "SELECT count(*) FROM coding WHERE bostedskommune_2024 NOT IN (SELECT area FROM areas) \
         AND bostedskommune_2024 <> '9999'",
    )
    .await;
    assert_eq!(count(&unmapped), 0, "every home counts in a municipality of 2024");

    // The split: each person of 1507 goes to Ålesund or Haram by the draw of their birth date and
    // sex, in proportion to the two municipalities' inhabitants of the year. The lake keeps the
    // birth year only, so the birth dates are read again from the delivered files.
    let births = births_of_1507(&dir_a.path().join("in"));
    let split = rows(
        &url_a,
        "SELECT CAST(date_part('year', kontaktdato) AS INT) AS year, rhf || '/' || hf || '/' || kontakt_id, kjonn, \
         bostedskommune_2024, fodselsar FROM coding WHERE bostedskommune = '1507'",
    )
    .await;
    let (mut n, mut to_haram, mut expected_haram) = (0usize, 0usize, 0.0);
    for b in &split {
        let years = b.column(0).as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        let contacts = texts(std::slice::from_ref(b), 1);
        let sexes = texts(std::slice::from_ref(b), 2);
        let placed = texts(std::slice::from_ref(b), 3);
        let birth_years = b.column(4).as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        for i in 0..b.num_rows() {
            let birth = births[&contacts[i]];
            assert_eq!(birth_years.value(i), birth.year(), "the lake keeps the birth year");
            let draw = allocation_draw(birth, &sexes[i]);
            assert_eq!(Some(placed[i].as_str()), embedded.kommune_2024("1507", years.value(i), draw));
            let shares = embedded.split_shares("1507", years.value(i)).unwrap();
            expected_haram += shares[1].1 as f64 / (shares[0].1 + shares[1].1) as f64;
            to_haram += usize::from(placed[i] == "1580");
            n += 1;
        }
    }
    assert!(n > 30, "{n} contacts of 1507");
    assert!(
        (to_haram as f64 - expected_haram).abs() < 4.0 * expected_haram.sqrt() + 2.0,
        "{to_haram} ≈ {expected_haram}"
    );
    // Data quality says how many homes were placed by shares.
    let dq = a.data_quality.iter().map(|b| {
        let c = b.column_by_name("residence_mapped_by_share").unwrap().as_primitive::<UInt64Type>().clone();
        (0..c.len()).filter(|i| c.is_valid(*i)).map(|i| c.value(i)).sum::<u64>()
    });
    assert_eq!(dq.sum::<u64>() as usize, n);

    // The figures: equal to those of the 2024-coded data, cell for cell and bit for bit, but for
    // the two indicators the split touches (the size class of Ålesund and Haram differ; a course
    // run's collaboration with 1507 counts as 1508).
    let split_touches = ["education_rate_by_size_class", "collaborating_municipalities"];
    let figures = |p: &Published| -> BTreeMap<String, String> {
        p.cells
            .iter()
            .filter(|c| !split_touches.contains(&c.indicator.as_str()))
            .map(|c| {
                let bits = |v: Option<f64>| v.map(f64::to_bits);
                (
                    format!("{:?}", c.key()),
                    format!(
                        "{} {:?} {:?} {:?} {:?}",
                        c.numerator,
                        bits(c.denominator),
                        bits(c.value),
                        bits(c.ci_low),
                        bits(c.ci_high)
                    ),
                )
            })
            .collect()
    };
    let (fa, fb) = (figures(&a), figures(&b));
    assert!(fa.len() > 1000);
    let differing: Vec<_> = fa.iter().filter(|(k, v)| fb.get(*k) != Some(v)).take(5).collect();
    assert!(differing.is_empty() && fa.len() == fb.len(), "{differing:?}");
    assert_eq!(a.variation, b.variation);
}
