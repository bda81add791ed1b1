//! A publication is a deterministic function of the lake's content, the reference data and the
//! definitions: the same bytes whatever the number of partitions the build runs in and whatever
//! order the deliveries arrived in, and a digest that says so.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use lms_etl::{Etl, EtlOptions, Snapshot, Source};
use lms_queries::IndicatorPublisher;
use lms_queries::publish::{BuildOptions, DIGESTED, build, content_digest};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::{Reference, Rhf};

const REGIONS: [(&str, Rhf); 4] = [("hso", Rhf::Hso), ("hv", Rhf::Hv), ("hmn", Rhf::Hmn), ("hn", Rhf::Hn)];

fn etl(url: &str, parallel_loads: usize) -> Etl {
    Etl {
        lake: lms_lake::Lake::open(url).unwrap(),
        reference: Arc::new(Reference::embedded().unwrap()),
        key: PseudonymKey::from_hex(&"07".repeat(32)).unwrap(),
        options: EtlOptions { parallel_loads, ..EtlOptions::default() },
        publisher: Some(Arc::new(IndicatorPublisher::new(lms_queries::publish::BuildOptions {
            min_count: 5,
            ..Default::default()
        }))),
    }
}

/// The four regions' sources over `dir/{RHF}`.
fn sources(dir: &Path) -> Vec<Source> {
    REGIONS
        .iter()
        .map(|(name, rhf)| {
            let path = dir.join(rhf.code());
            std::fs::create_dir_all(&path).unwrap();
            Source::new(name, *rhf, None, &format!("file://{}", path.display())).unwrap()
        })
        .collect()
}

fn new_lake(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).unwrap();
    format!("file://{}", path.display())
}

/// The path of the one live file of a published table.
fn published_path(dir: &Path, lake: &str, snapshot: &Snapshot, table: &str) -> std::path::PathBuf {
    let files: Vec<_> = snapshot.table_files(table).collect();
    assert_eq!(files.len(), 1, "{table}");
    dir.join(lake).join(&files[0].path)
}

fn published_file(dir: &Path, lake: &str, snapshot: &Snapshot, table: &str) -> Vec<u8> {
    std::fs::read(published_path(dir, lake, snapshot, table)).unwrap()
}

fn read_parquet(path: &Path) -> (datafusion::arrow::datatypes::SchemaRef, Vec<RecordBatch>) {
    let file = std::fs::File::open(path).unwrap();
    let builder = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = builder.schema().clone();
    (schema, builder.build().unwrap().collect::<Result<_, _>>().unwrap())
}

/// Cells (by key) whose value or interval differ between two builds, as text for a message.
fn differing(a: &lms_queries::publish::Published, b: &lms_queries::publish::Published) -> Vec<String> {
    let figures = |c: &lms_queries::suppress::Cell| {
        (c.value.map(f64::to_bits), c.ci_low.map(f64::to_bits), c.ci_high.map(f64::to_bits))
    };
    let index: std::collections::BTreeMap<_, _> = b.cells.iter().map(|c| (c.key(), figures(c))).collect();
    a.cells
        .iter()
        .filter(|c| index.get(&c.key()) != Some(&figures(c)))
        .map(|c| format!("{:?}: {:?} {:?}", c.key(), c.value, index.get(&c.key())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publications_are_the_same_bytes_whatever_the_partitions_and_the_delivery_order() {
    let dir = tempfile::tempdir().unwrap();
    let reference = Arc::new(Reference::embedded().unwrap());
    let options =
        lms_generate::Options { seed: 11, first_year: 2023, last_year: 2024, scale: 0.05, codes_of_2024: false };
    lms_generate::generate(&dir.path().join("in"), &options, &reference).unwrap();

    // Lake A: every delivery in one pass, loaded two at a time.
    let url_a = new_lake(dir.path(), "a");
    let etl_a = etl(&url_a, 2);
    etl_a.run(&sources(&dir.path().join("in"))).await.unwrap();

    // Lake B: the same deliveries in another order: 2024 first, in one pass per region from the
    // north, one at a time; then 2023 (and the files named for no year) in a second pass.
    let (late, early) = (dir.path().join("late"), dir.path().join("early"));
    for (_, rhf) in REGIONS {
        for entry in std::fs::read_dir(dir.path().join("in").join(rhf.code())).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let to = if name.contains("2024") { &late } else { &early };
            std::fs::create_dir_all(to.join(rhf.code())).unwrap();
            std::fs::copy(&path, to.join(rhf.code()).join(&name)).unwrap();
        }
    }
    let url_b = new_lake(dir.path(), "b");
    let etl_b = etl(&url_b, 1);
    for source in sources(&late).into_iter().rev() {
        etl_b.run(std::slice::from_ref(&source)).await.unwrap();
    }
    etl_b.run(&sources(&early)).await.unwrap();

    let (a, b) = (etl_a.lake.snapshot().await.unwrap(), etl_b.lake.snapshot().await.unwrap());
    assert!(b.version > a.version, "lake B took {} commits, lake A {}", b.version, a.version);
    let digest = a.digest.clone().expect("the commit records the digest");
    assert!(digest.starts_with("sha256:") && digest.len() == 7 + 64, "{digest}");
    assert_eq!(b.digest.as_ref(), Some(&digest), "the same deliveries in another order: the same digest");
    for table in DIGESTED {
        assert!(
            published_file(dir.path(), "a", &a, table) == published_file(dir.path(), "b", &b, table),
            "{table}: the Parquet files of the two lakes differ"
        );
    }
    // The digest is of the content: the files read back with a plain Parquet reader give it again.
    let tables: Vec<_> = DIGESTED.iter().map(|t| (*t, read_parquet(&published_path(dir.path(), "a", &a, t)))).collect();
    let tables: Vec<_> = tables.iter().map(|(t, (schema, b))| (*t, schema.as_ref(), b.as_slice())).collect();
    assert_eq!(content_digest(&tables).unwrap(), digest);

    // The build in 1, 2 and 8 partitions: the same cells to the bit, the same tables and digest.
    let mut builds = Vec::new();
    for partitions in [1, 2, 8] {
        let options = BuildOptions { target_partitions: Some(partitions), ..BuildOptions::default() };
        builds.push((partitions, build(&etl_a.lake, &a, &options).await.unwrap()));
    }
    let (_, first) = &builds[0];
    assert!(first.cells.len() > 1000, "{} cells", first.cells.len());
    assert!(first.cells.iter().any(|c| c.indicator == "education_contacts_rate" && c.value.is_some()));
    for (partitions, built) in &builds {
        let diff = differing(first, built);
        assert!(
            diff.is_empty(),
            "{partitions} partitions: {} cells differ, e.g. {:?}",
            diff.len(),
            &diff[..3.min(diff.len())]
        );
        assert_eq!(built.indicator_values, first.indicator_values, "{partitions} partitions");
        assert_eq!(built.variation, first.variation, "{partitions} partitions");
        assert_eq!(built.digest, digest, "{partitions} partitions");
    }

    // A republish with nothing changed: a new version, the same digest.
    let report = etl_a.republish().await.unwrap();
    let again = etl_a.lake.snapshot().await.unwrap();
    assert_eq!(report.version, Some(a.version + 1));
    assert_eq!(again.digest.as_ref(), Some(&digest));
}

/// The digest is of rows and values, not of batches: the same rows split otherwise give it again,
/// one bit of one float changes it, and an empty table hashes alike with or without an empty batch.
#[test]
fn the_content_digest_sees_values_not_batches() {
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("unit", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
        Field::new("value", DataType::Float64, true),
    ]));
    let batch = |units: Vec<Option<&str>>, n: Vec<Option<i64>>, v: Vec<Option<f64>>| {
        RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(units)), Arc::new(Int64Array::from(n)), Arc::new(Float64Array::from(v))],
        )
        .unwrap()
    };
    let x = 0.6923788528917866_f64;
    let whole = [batch(vec![Some("a"), None, Some("b")], vec![Some(1), Some(2), None], vec![Some(x), None, Some(0.5)])];
    let split = [
        batch(vec![Some("a")], vec![Some(1)], vec![Some(x)]),
        batch(vec![None, Some("b")], vec![Some(2), None], vec![None, Some(0.5)]),
    ];
    let next = f64::from_bits(x.to_bits() + 1);
    let nudged =
        [batch(vec![Some("a"), None, Some("b")], vec![Some(1), Some(2), None], vec![Some(next), None, Some(0.5)])];
    let digest = |batches: &[RecordBatch]| content_digest(&[("t", &schema, batches)]).unwrap();
    assert_eq!(digest(&whole), digest(&split));
    assert_ne!(digest(&whole), digest(&nudged), "{x} and {next} are other figures");
    // A null is not an empty text, nor a text a number.
    let empty_text =
        [batch(vec![Some("a"), Some(""), Some("b")], vec![Some(1), Some(2), None], vec![Some(x), None, Some(0.5)])];
    assert_ne!(digest(&whole), digest(&empty_text));
    assert_eq!(digest(&[]), digest(&[batch(vec![], vec![], vec![])]));
    assert_ne!(content_digest(&[("t", &schema, &whole)]).unwrap(), content_digest(&[("u", &schema, &whole)]).unwrap());
}
