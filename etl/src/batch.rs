//! Arrow batches from checked rows, in the lake schema the contract declares
//! (`ExtractKind::lake_schema`): the identity number becomes a keyed pseudonym and what it says.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, SchemaRef};
use chrono::{Datelike, NaiveDate};
use lms_schemas::identity::PseudonymKey;
use lms_schemas::reference::allocation_draw;
use lms_schemas::{CheckedRow, ColumnType, ExtractKind, Reference, Value, Violation};

/// Rows per batch (and per Parquet row group write): a quarter of the lake's row group, so a group
/// is four whole batches.
pub const BATCH_ROWS: usize = lms_lake::write::ROW_GROUP_ROWS / 4;

/// Days since 1970-01-01 (Arrow's Date32).
fn days(d: NaiveDate) -> i32 {
    /// 1970-01-01 counted from 0001-01-01 as day 1 (`num_days_from_ce`).
    const EPOCH_FROM_CE: i32 = 719_163;
    d.num_days_from_ce() - EPOCH_FROM_CE
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_since_the_epoch() {
        let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        for d in [date(1970, 1, 1), date(1969, 12, 31), date(2024, 2, 29), date(1900, 3, 1), date(2100, 1, 1)] {
            assert_eq!(super::days(d) as i64, (d - date(1970, 1, 1)).num_days(), "{d}");
        }
    }
}

enum Builder {
    Str(StringBuilder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Int(Int32Builder),
    Dec(Decimal128Builder),
    List(ListBuilder<StringBuilder>),
    /// person, fodselsar, kjonn, alder.
    Identity(Box<(StringBuilder, Int32Builder, StringBuilder, Int32Builder)>),
    /// A municipality code as delivered and the municipality of 2024 it counts in (`…_2024`).
    Kommune(Box<(StringBuilder, StringBuilder)>),
}

/// Accepted rows of one delivery → batches of the extract's lake schema.
pub struct RowBatcher {
    kind: ExtractKind,
    schema: SchemaRef,
    builders: Vec<Builder>,
    period: StringBuilder,
    delivery: StringBuilder,
    line: Int64Builder,
    period_text: String,
    file: String,
    key: PseudonymKey,
    /// The contract column whose date the age is taken at (coding: kontaktdato).
    age_date: Option<usize>,
    /// The contract column whose year a municipality code is mapped to 2024 borders in
    /// (coding: kontaktdato, activity: startdato).
    kommune_date: Option<usize>,
    reference: Arc<Reference>,
    rows: usize,
}

impl RowBatcher {
    pub fn new(
        kind: ExtractKind,
        period: &str,
        file: &str,
        key: PseudonymKey,
        reference: Arc<Reference>,
    ) -> RowBatcher {
        let mut batcher = RowBatcher {
            kind,
            schema: kind.lake_schema(),
            builders: Vec::new(),
            period: StringBuilder::new(),
            delivery: StringBuilder::new(),
            line: Int64Builder::new(),
            period_text: period.to_string(),
            file: file.to_string(),
            key,
            age_date: kind.column_index("kontaktdato").filter(|_| kind == ExtractKind::Coding),
            kommune_date: match kind {
                ExtractKind::Coding => kind.column_index("kontaktdato"),
                ExtractKind::Activity => kind.column_index("startdato"),
                ExtractKind::Evaluation => None,
            },
            reference,
            rows: 0,
        };
        batcher.start_batch();
        batcher
    }

    /// Empty builders with room for a whole batch (16 bytes a text value): a builder that grows
    /// from empty copies its data again at each doubling, and pages are only touched as rows come.
    fn start_batch(&mut self) {
        let rows = BATCH_ROWS;
        let text = || StringBuilder::with_capacity(rows, rows * 16);
        self.builders = self
            .kind
            .columns()
            .iter()
            .map(|c| match c.ty {
                ColumnType::Bool => Builder::Bool(BooleanBuilder::with_capacity(rows)),
                ColumnType::Date { .. } => Builder::Date(Date32Builder::with_capacity(rows)),
                ColumnType::Int { .. } => Builder::Int(Int32Builder::with_capacity(rows)),
                ColumnType::Decimal { scale, .. } => Builder::Dec(
                    Decimal128Builder::with_capacity(rows)
                        .with_precision_and_scale(5 + scale as u8, scale as i8)
                        .expect("valid decimal"),
                ),
                ColumnType::CodeList { .. } => {
                    Builder::List(ListBuilder::with_capacity(text(), rows).with_field(Arc::new(Field::new(
                        "item",
                        DataType::Utf8,
                        false,
                    ))))
                }
                ColumnType::Kommune { .. } => Builder::Kommune(Box::new((text(), text()))),
                ColumnType::Fodselsnummer => Builder::Identity(Box::new((
                    StringBuilder::with_capacity(rows, rows * 32),
                    Int32Builder::with_capacity(rows),
                    StringBuilder::with_capacity(rows, rows),
                    Int32Builder::with_capacity(rows),
                ))),
                _ => Builder::Str(text()),
            })
            .collect();
        self.period = StringBuilder::with_capacity(rows, rows * self.period_text.len());
        self.delivery = StringBuilder::with_capacity(rows, rows * self.file.len());
        self.line = Int64Builder::with_capacity(rows);
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends an accepted row.
    pub fn push(&mut self, row: &CheckedRow<'_>) {
        debug_assert!(row.is_accepted());
        let date = |col: Option<usize>| {
            col.and_then(|i| match row.values[i] {
                Value::Date(d) => Some(d),
                _ => None,
            })
        };
        let age_date = date(self.age_date);
        let kommune_year = date(self.kommune_date).map_or(0, |d| d.year());
        // Only a split code needs it: the draw of the row's person (rows without one take 0, the
        // first successor).
        let draw = || {
            row.values
                .iter()
                .find_map(|v| match v {
                    Value::Identity(id) => Some(allocation_draw(id.identity.birth_date, id.identity.sex.code())),
                    _ => None,
                })
                .unwrap_or(0)
        };
        for (b, v) in self.builders.iter_mut().zip(&row.values) {
            match (b, v) {
                (Builder::Str(b), Value::Text(s)) => b.append_value(s),
                (Builder::Str(b), _) => b.append_null(),
                (Builder::Bool(b), Value::Bool(x)) => b.append_value(*x),
                (Builder::Bool(b), _) => b.append_null(),
                (Builder::Date(b), Value::Date(d)) => b.append_value(days(*d)),
                (Builder::Date(b), _) => b.append_null(),
                (Builder::Int(b), Value::Int(i)) => b.append_value(*i as i32),
                (Builder::Int(b), _) => b.append_null(),
                (Builder::Dec(b), Value::Decimal(d)) => b.append_value(i128::from(*d)),
                (Builder::Dec(b), _) => b.append_null(),
                (Builder::List(b), Value::List(items)) => {
                    for it in items {
                        b.values().append_value(it);
                    }
                    b.append(true);
                }
                (Builder::List(b), _) => b.append(false),
                (Builder::Identity(b), Value::Identity(id)) => {
                    let (person, birth, sex, age) = &mut **b;
                    let pseudonym = self.key.pseudonym_hex(id.number());
                    person.append_value(std::str::from_utf8(&pseudonym).expect("hex digits"));
                    // The birth year, not the date: the date is used here only (the draw above).
                    birth.append_value(id.identity.birth_date.year());
                    sex.append_value(id.identity.sex.code());
                    age.append_value(age_date.map_or(0, |d| id.identity.age_on(d)));
                }
                (Builder::Identity(..), _) => unreachable!("an accepted row has a valid identity number"),
                (Builder::Kommune(b), Value::Text(code)) => {
                    let (delivered, current) = &mut **b;
                    delivered.append_value(code);
                    let draw = if self.reference.is_split(code) { draw() } else { 0 };
                    // 9999 (unknown) is in no history and stays as it is.
                    current.append_value(self.reference.kommune_2024(code, kommune_year, draw).unwrap_or(code));
                }
                (Builder::Kommune(b), _) => {
                    b.0.append_null();
                    b.1.append_null();
                }
            }
        }
        self.period.append_value(&self.period_text);
        self.delivery.append_value(&self.file);
        self.line.append_value(row.line as i64);
        self.rows += 1;
    }

    /// The rows so far as a batch; the batcher starts over.
    pub fn finish(&mut self) -> RecordBatch {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for b in &mut self.builders {
            match b {
                Builder::Str(b) => columns.push(Arc::new(b.finish())),
                Builder::Bool(b) => columns.push(Arc::new(b.finish())),
                Builder::Date(b) => columns.push(Arc::new(b.finish())),
                Builder::Int(b) => columns.push(Arc::new(b.finish())),
                Builder::Dec(b) => columns.push(Arc::new(b.finish())),
                Builder::List(b) => columns.push(Arc::new(b.finish())),
                Builder::Kommune(b) => {
                    columns.push(Arc::new(b.0.finish()));
                    columns.push(Arc::new(b.1.finish()));
                }
                Builder::Identity(b) => {
                    let (p, d, s, a) = &mut **b;
                    columns.push(Arc::new(p.finish()));
                    columns.push(Arc::new(d.finish()));
                    columns.push(Arc::new(s.finish()));
                    columns.push(Arc::new(a.finish()));
                }
            }
        }
        columns.push(Arc::new(self.period.finish()));
        columns.push(Arc::new(self.delivery.finish()));
        columns.push(Arc::new(self.line.finish()));
        self.rows = 0;
        self.start_batch();
        RecordBatch::try_new(self.schema.clone(), columns).expect("builders follow the lake schema")
    }
}

pub use lms_schemas::contract::quarantine_schema;

/// Where quarantined rows came from.
#[derive(Clone, Debug)]
pub struct QuarantineContext {
    pub run_id: String,
    pub source: String,
    pub delivery: String,
    pub rhf: Option<String>,
    pub extract: Option<String>,
    pub period: Option<String>,
}

/// Builds quarantine batches.
pub struct QuarantineBatcher {
    ctx: QuarantineContext,
    line: Int64Builder,
    column: StringBuilder,
    rule: StringBuilder,
    value: StringBuilder,
    expected: StringBuilder,
    person: StringBuilder,
    key: PseudonymKey,
    rows: usize,
}

impl QuarantineBatcher {
    pub fn new(ctx: QuarantineContext, key: PseudonymKey) -> QuarantineBatcher {
        QuarantineBatcher {
            ctx,
            line: Int64Builder::new(),
            column: StringBuilder::new(),
            rule: StringBuilder::new(),
            value: StringBuilder::new(),
            expected: StringBuilder::new(),
            person: StringBuilder::new(),
            key,
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends a rejected row's violations, with the row's pseudonym where its number was valid.
    pub fn push_row(&mut self, row: &CheckedRow<'_>) {
        let person = row.values.iter().find_map(|v| match v {
            Value::Identity(id) => Some(self.key.pseudonym(id.number())),
            _ => None,
        });
        for v in &row.violations {
            self.push(v, person.as_deref());
        }
    }

    fn push(&mut self, v: &Violation, person: Option<&str>) {
        self.line.append_value(v.line as i64);
        self.column.append_option(v.column);
        self.rule.append_value(v.rule.as_str());
        self.value.append_option(v.value.as_deref());
        self.expected.append_value(&v.expected);
        self.person.append_option(person);
        self.rows += 1;
    }

    /// Appends a whole-file rejection.
    pub fn push_file(&mut self, rule: &str, line: Option<u64>, message: &str) {
        self.line.append_option(line.map(|l| l as i64));
        self.column.append_null();
        self.rule.append_value(rule);
        self.value.append_null();
        self.expected.append_value(message);
        self.person.append_null();
        self.rows += 1;
    }

    pub fn finish(&mut self) -> RecordBatch {
        let n = self.rows;
        let repeat = |v: &str| -> ArrayRef { Arc::new(arrow_array::StringArray::from(vec![v; n])) };
        let repeat_opt =
            |v: &Option<String>| -> ArrayRef { Arc::new(arrow_array::StringArray::from(vec![v.as_deref(); n])) };
        let columns: Vec<ArrayRef> = vec![
            repeat(&self.ctx.run_id),
            repeat(&self.ctx.source),
            repeat(&self.ctx.delivery),
            repeat_opt(&self.ctx.rhf),
            repeat_opt(&self.ctx.extract),
            repeat_opt(&self.ctx.period),
            Arc::new(self.line.finish()),
            Arc::new(self.column.finish()),
            Arc::new(self.rule.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.expected.finish()),
            Arc::new(self.person.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(quarantine_schema(), columns).expect("quarantine schema")
    }
}
