//! Formats batches for `lms query` and the server.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::error::ArrowError;

pub fn table(batches: &[RecordBatch]) -> String {
    datafusion::arrow::util::pretty::pretty_format_batches(batches).map(|t| t.to_string()).unwrap_or_default()
}

/// CSV with a header line. A column CSV cannot hold as it is (a list, a struct, a map: the coding
/// table's ICD-10 codes) is written as JSON text, one value per field (`["E11","I10"]`), empty where
/// null. Text that a spreadsheet would run as a formula is neutralised ([`neutralise`]).
pub fn try_csv(batches: &[RecordBatch], header: bool) -> Result<Vec<u8>, ArrowError> {
    let mut out = Vec::new();
    {
        let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(header).build(&mut out);
        for b in batches {
            w.write(&neutralised(&nested_as_json(b)?)?)?;
        }
    }
    Ok(out)
}

/// Whether CSV cannot hold a column of type `t` as it is.
fn nested(t: &datafusion::arrow::datatypes::DataType) -> bool {
    use datafusion::arrow::datatypes::DataType as T;
    matches!(
        t,
        T::List(_)
            | T::LargeList(_)
            | T::FixedSizeList(..)
            | T::ListView(_)
            | T::LargeListView(_)
            | T::Struct(_)
            | T::Map(..)
    )
}

/// `batch` with each nested column as JSON text (Arrow's JSON writer's form of each value).
fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    if !batch.schema().fields().iter().any(|f| nested(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut fields: Vec<Field> = Vec::with_capacity(batch.num_columns());
    for (column, field) in batch.columns().iter().zip(batch.schema().fields()) {
        if !nested(field.data_type()) {
            columns.push(column.clone());
            fields.push(field.as_ref().clone());
            continue;
        }
        // One JSON object per row, `{"v": …}` (or `{}` for null), from the column alone.
        let one = Arc::new(Schema::new(vec![field.as_ref().clone().with_name("v").with_nullable(true)]));
        let one = RecordBatch::try_new(one, vec![column.clone()])?;
        let mut w = datafusion::arrow::json::LineDelimitedWriter::new(Vec::new());
        w.write(&one)?;
        w.finish()?;
        let lines = w.into_inner();
        let mut text: Vec<Option<String>> = Vec::with_capacity(batch.num_rows());
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let row: serde_json::Value =
                serde_json::from_slice(line).map_err(|e| ArrowError::JsonError(e.to_string()))?;
            text.push(row.get("v").filter(|v| !v.is_null()).map(|v| v.to_string()));
        }
        if text.len() != batch.num_rows() {
            return Err(ArrowError::JsonError(format!(
                "{}: {} values for {} rows",
                field.name(),
                text.len(),
                batch.num_rows()
            )));
        }
        columns.push(Arc::new(text.into_iter().collect::<StringArray>()));
        fields.push(Field::new(field.name(), DataType::Utf8, true));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, Int64Array, ListBuilder, StringBuilder};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    /// A list column is written as JSON text (quoted by CSV's rules), a null list as an empty field,
    /// an empty list as `[]`; the other columns as before.
    #[test]
    fn list_columns_are_json_text_in_csv() {
        let mut codes = ListBuilder::new(StringBuilder::new());
        codes.values().append_value("E11");
        codes.values().append_value("I10");
        codes.append(true);
        codes.append(false);
        codes.append(true);
        let codes = codes.finish();
        let schema = Arc::new(Schema::new(vec![
            Field::new("codes", codes.data_type().clone(), true),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(codes), Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap();
        let csv = String::from_utf8(try_csv(&[batch], true).unwrap()).unwrap();
        assert_eq!(csv, "codes,n\n\"[\"\"E11\"\",\"\"I10\"\"]\",1\n,2\n[],3\n");
    }
}
