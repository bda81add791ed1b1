//! Downloads: `format=parquet` beside JSON and CSV, read back with Parquet's own reader, equal to
//! the JSON answer cell by cell (hidden cells empty with their reason).

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{DASHBOARD, client, options, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_holds_what_json_holds() {
    let (addr, _stop) = start(options()).await;
    let query = "period=all";
    let get = |format: &'static str| {
        let url = format!("http://{addr}/api/v1/indicators/a0099_share?{query}&format={format}");
        async move { client().get(url).bearer_auth(DASHBOARD).send().await.unwrap() }
    };
    let body = get("json").await.text().await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows = json.as_array().unwrap();
    // The values as written, parsed by Rust's correctly rounded parser (serde_json's default one
    // can be a unit in the last place off).
    let values: Vec<Option<f64>> = body
        .match_indices("\"value\":")
        .map(|(at, key)| {
            let rest = &body[at + key.len()..];
            let text = &rest[..rest.find([',', '}']).unwrap()];
            (text != "null").then(|| text.parse().unwrap())
        })
        .collect();
    assert_eq!(values.len(), rows.len());
    assert!(rows.len() > 10 && rows.iter().any(|r| r["suppressed"] == true), "hidden cells among them");
    let r = get("parquet").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.apache.parquet");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("a0099_share.parquet"));
    let bytes = r.bytes().await.unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, rows.len());
    let mut i = 0;
    for b in &batches {
        let schema = b.schema();
        let col = |name: &str| b.column(schema.index_of(name).unwrap()).clone();
        let (hf, value, reason) = (col("hf"), col("value"), col("suppression_reason"));
        let hf = datafusion::arrow::compute::cast(&hf, &datafusion::arrow::datatypes::DataType::Utf8).unwrap();
        let reason = datafusion::arrow::compute::cast(&reason, &datafusion::arrow::datatypes::DataType::Utf8).unwrap();
        let value = value.as_primitive::<Float64Type>();
        for k in 0..b.num_rows() {
            let j = &rows[i];
            assert_eq!(hf.is_valid(k).then(|| hf.as_string::<i32>().value(k)), j["hf"].as_str());
            // The same number to the bit, or empty where JSON has null; a hidden cell's reason.
            assert_eq!(value.is_valid(k).then(|| value.value(k)), values[i], "{j}");
            assert_eq!(
                reason.is_valid(k).then(|| reason.as_string::<i32>().value(k)),
                j["suppression_reason"].as_str()
            );
            i += 1;
        }
    }
    let r = client()
        .get(format!("http://{addr}/api/v1/indicators/education_contacts_rate?format=xls"))
        .bearer_auth(DASHBOARD)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
