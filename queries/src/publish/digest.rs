//! The content digest of a publication: what identifies its figures, whoever built them.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, Schema, UInt64Type};

use crate::error::{QueryError, sql_error};

/// The tables a publication's digest covers: the figures. `data_quality` is left out: it records
/// when and under which name each delivery was loaded, which differs between two loads of the same
/// deliveries (its counts are as reproducible as the figures).
pub const DIGESTED: [&str; 2] = ["indicator_values", "variation"];

/// SHA-256 of tables' content, as `sha256:` and 64 hex digits: the same rows in the same order give
/// the same digest however they are split into batches or encoded in files, so an auditor can
/// recompute it from the Parquet files with any reader. Fed to the hash, per table: its name; per
/// column its name and one of `int64`, `uint64`, `float64`, `bool`, `text`; then the rows in order,
/// each value as a byte 0 (null) or 1 followed by the value: integers as 8 bytes little-endian,
/// floats as the 8 little-endian bytes of their IEEE 754 bits, booleans as one byte 0 or 1, text as
/// its length in bytes (8 bytes little-endian) and its UTF-8. Names are written as text is.
pub fn content_digest(tables: &[(&str, &Schema, &[RecordBatch])]) -> Result<String, QueryError> {
    use sha2::Digest;
    fn text(h: &mut sha2::Sha256, s: &str) {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    /// The canonical type a column is hashed as, and its name.
    fn canonical(t: &DataType) -> Result<(DataType, &'static str), QueryError> {
        Ok(match t {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Timestamp(..) => {
                (DataType::Int64, "int64")
            }
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => (DataType::UInt64, "uint64"),
            DataType::Float32 | DataType::Float64 => (DataType::Float64, "float64"),
            DataType::Boolean => (DataType::Boolean, "bool"),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => (DataType::Utf8, "text"),
            other => return Err(QueryError::Sql(format!("content digest: no canonical form for {other}"))),
        })
    }
    let mut h = sha2::Sha256::new();
    for (table, schema, batches) in tables {
        text(&mut h, table);
        // From the schema, not a batch: an empty table hashes the same with or without an empty batch.
        let mut types = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let (ty, name) = canonical(field.data_type())?;
            text(&mut h, field.name());
            text(&mut h, name);
            types.push(ty);
        }
        for b in batches.iter() {
            if b.num_columns() != types.len() {
                return Err(QueryError::Sql(format!("content digest: {table}: a batch unlike its schema")));
            }
            let columns = b.columns().iter().zip(&types).map(|(c, ty)| cast(c, ty)).collect::<Result<Vec<_>, _>>();
            let columns = columns.map_err(sql_error)?;
            for row in 0..b.num_rows() {
                for c in &columns {
                    if c.is_null(row) {
                        h.update([0]);
                        continue;
                    }
                    h.update([1]);
                    match c.data_type() {
                        DataType::Int64 => h.update(c.as_primitive::<Int64Type>().value(row).to_le_bytes()),
                        DataType::UInt64 => h.update(c.as_primitive::<UInt64Type>().value(row).to_le_bytes()),
                        DataType::Float64 => {
                            h.update(c.as_primitive::<Float64Type>().value(row).to_bits().to_le_bytes())
                        }
                        DataType::Boolean => h.update([u8::from(c.as_boolean().value(row))]),
                        _ => text(&mut h, c.as_string::<i32>().value(row)),
                    }
                }
            }
        }
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}
