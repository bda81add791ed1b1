//! Arrow batches in and out: fields of the published types, rows to batches, typed columns, and
//! running a statement or a script.

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::prelude::SessionContext;

use crate::error::{QueryError, sql_error};

/// Records as Arrow batches of `schema`, through JSON (maps and lists become JSON text).
pub(crate) fn json_batches<T: serde::Serialize>(schema: SchemaRef, rows: &[T]) -> Result<Vec<RecordBatch>, QueryError> {
    let mut text = Vec::new();
    for r in rows {
        let mut v = serde_json::to_value(r).map_err(sql_error)?;
        // Maps are kept as JSON text: analysts read them with json functions or by eye.
        if let serde_json::Value::Object(o) = &mut v {
            for (_, x) in o.iter_mut() {
                if x.is_object() || x.is_array() {
                    *x = serde_json::Value::String(x.to_string());
                }
            }
        }
        serde_json::to_writer(&mut text, &v).map_err(sql_error)?;
        text.push(b'\n');
    }
    let reader = datafusion::arrow::json::ReaderBuilder::new(schema.clone())
        .build(std::io::Cursor::new(text))
        .map_err(sql_error)?;
    reader.collect::<Result<_, _>>().map_err(sql_error)
}

pub fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

pub fn u64f(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::UInt64, nullable)
}

pub fn f64f(name: &str) -> Field {
    Field::new(name, DataType::Float64, true)
}

/// The column `name` of `batch` cast to `ty`.
pub fn column(batch: &RecordBatch, name: &str, ty: &DataType) -> Result<ArrayRef, QueryError> {
    let c = batch.column_by_name(name).ok_or_else(|| QueryError::Sql(format!("no column `{name}`")))?;
    cast(c, ty).map_err(sql_error)
}

/// Casts each column of `batches` to `schema` (same column order), e.g. Utf8View → Utf8.
pub fn conform(batches: Vec<RecordBatch>, schema: SchemaRef) -> Result<Vec<RecordBatch>, QueryError> {
    batches
        .into_iter()
        .map(|b| {
            let columns =
                schema.fields().iter().map(|f| column(&b, f.name(), f.data_type())).collect::<Result<Vec<_>, _>>()?;
            RecordBatch::try_new(schema.clone(), columns).map_err(sql_error)
        })
        .collect()
}

/// The statements of a script whose statements end with a line holding only `;`, without comments.
pub fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        if line.trim() == ";" {
            out.push(std::mem::take(&mut current));
        } else if !line.trim_start().starts_with("--") {
            current.push_str(line);
            current.push('\n');
        }
    }
    out
}

/// Runs `sql` and collects its batches.
pub async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
    ctx.sql(sql).await.map_err(sql_error)?.collect().await.map_err(sql_error)
}
