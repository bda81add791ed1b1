//! Formats batches for `lms query` and the server.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::error::ArrowError;

pub fn table(batches: &[RecordBatch]) -> String {
    datafusion::arrow::util::pretty::pretty_format_batches(batches).map(|t| t.to_string()).unwrap_or_default()
}

/// CSV with a header line, or an error for a column CSV cannot hold (lists, structs). Text that
/// a spreadsheet would run as a formula is neutralised ([`neutralise`]).
pub fn try_csv(batches: &[RecordBatch], header: bool) -> Result<Vec<u8>, ArrowError> {
    let mut out = Vec::new();
    {
        let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(header).build(&mut out);
        for b in batches {
            w.write(&neutralised(b)?)?;
        }
    }
    Ok(out)
}

/// Whether a spreadsheet would take `text` for a formula (OWASP, "CSV Injection": a cell that
/// begins with `=`, `+`, `-`, `@`, a tab or a carriage return).
pub fn is_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// `text` as a spreadsheet shows it and never runs it: a formula gets a leading `'`.
pub fn neutralise(text: &str) -> std::borrow::Cow<'_, str> {
    if is_formula(text) { format!("'{text}").into() } else { text.into() }
}

/// `batch` with every text value [`neutralise`]d (a text column with any becomes `Utf8`).
fn neutralised(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut fields: Vec<Field> = Vec::with_capacity(batch.num_columns());
    let mut changed = false;
    for (column, field) in batch.columns().iter().zip(batch.schema().fields()) {
        let text = matches!(column.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        let as_utf8 = if text { Some(datafusion::arrow::compute::cast(column, &DataType::Utf8)?) } else { None };
        match as_utf8 {
            Some(a) if a.as_string::<i32>().iter().flatten().any(is_formula) => {
                let safe: StringArray = a.as_string::<i32>().iter().map(|v| v.map(neutralise)).collect();
                columns.push(std::sync::Arc::new(safe));
                fields.push(field.as_ref().clone().with_data_type(DataType::Utf8));
                changed = true;
            }
            _ => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
        debug_assert_eq!(columns.last().map(|c| c.len()), Some(batch.num_rows()));
    }
    if !changed {
        return Ok(batch.clone());
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
}

pub fn csv(batches: &[RecordBatch]) -> Vec<u8> {
    try_csv(batches, true).unwrap_or_else(|e| format!("error: {e}\n").into_bytes())
}

/// A JSON array of row objects; null values are written as `null`, so every row has every column.
pub fn try_json(batches: &[RecordBatch]) -> Result<Vec<u8>, ArrowError> {
    let mut w = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, datafusion::arrow::json::writer::JsonArray>(Vec::new());
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    let mut out = w.into_inner();
    if out.is_empty() {
        out.extend_from_slice(b"[]");
    }
    Ok(out)
}

pub fn json(batches: &[RecordBatch]) -> Vec<u8> {
    try_json(batches).expect("every Arrow type the lake holds has a JSON form")
}
