//! Checking a delivery against its contract, row by row, in two streaming passes: the first finds
//! repeated ids (every row carrying one is rejected, the first too), the second checks and types
//! every row. Memory: 8 bytes per row for the id index during the first pass; the rest is bounded
//! by the longest record.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::Read;

use chrono::NaiveDate;

use crate::contract::{Column, ColumnType, ExtractKind, ListItem, pam_level};
use crate::delivery::{Delivery, Period};
use crate::dialect::{Dialect, FileFormat, Rhf};
use crate::identity::{self, Identity};
use crate::reader::{Body, FileRejection, JsonField, Raw, RawRecord, RecordReader};
use crate::reference::{OSLO, Reference, UNKNOWN_KOMMUNE};
use crate::rule::Rule;
pub use crate::values::parse_decimal;
use crate::values::{is_icd10, parse_int};

/// A checked, typed value, borrowing its text from the record.
#[derive(Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Text(&'a str),
    Int(i64),
    /// In units of 10^-scale of the column.
    Decimal(i64),
    Date(NaiveDate),
    Bool(bool),
    List(Vec<&'a str>),
    /// A valid identity number with what it says. The number is only reachable through
    /// [`IdentityValue::number`], for pseudonymisation.
    Identity(IdentityValue<'a>),
}

/// A valid identity number. `Debug` masks it.
#[derive(Clone, PartialEq)]
pub struct IdentityValue<'a> {
    number: &'a str,
    pub identity: Identity,
}

impl IdentityValue<'_> {
    /// The raw number, to be pseudonymised and dropped. Never log or store it.
    pub fn number(&self) -> &str {
        self.number
    }
}

impl fmt::Debug for IdentityValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityValue(<masked>, {:?})", self.identity)
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Text(s) => write!(f, "Text({s:?})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Decimal(d) => write!(f, "Decimal({d})"),
            Value::Date(d) => write!(f, "Date({d})"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::List(l) => write!(f, "List({l:?})"),
            Value::Identity(i) => write!(f, "{i:?}"),
        }
    }
}

/// One broken rule in one row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    pub line: u64,
    /// The contract column, or `None` for a malformed record.
    pub column: Option<&'static str>,
    pub rule: Rule,
    /// The offending value as it stood in the file (cut to 80 characters), with every identity
    /// number in it masked; `<masked>` for a whole `fodselsnummer`.
    pub value: Option<String>,
    /// What was expected instead.
    pub expected: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(c) = self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, ": {}: expected {}", self.rule, self.expected)?;
        if let Some(v) = &self.value {
            write!(f, ", found {v:?}")?;
        }
        Ok(())
    }
}

/// A row after checking: typed values (one per contract column) and what it broke.
#[derive(Debug, Default)]
pub struct CheckedRow<'a> {
    pub line: u64,
    pub values: Vec<Value<'a>>,
    pub violations: Vec<Violation>,
}

impl CheckedRow<'_> {
    pub fn is_accepted(&self) -> bool {
        self.violations.is_empty()
    }
}

/// What a delivery came to. Invariant: `rows_read = rows_loaded + rows_rejected`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FileSummary {
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    /// Rejected rows by the first rule each broke.
    pub rows_rejected_by_rule: BTreeMap<Rule, u64>,
    /// Every violation, by rule (a row may break several).
    pub violations_by_rule: BTreeMap<Rule, u64>,
    /// Columns in the file that the contract does not have, by name (identity numbers masked):
    /// for the producer's report.
    pub unknown_columns: Vec<String>,
    /// The same columns by place (`column 7`, `key 2`), never by name: what run records and logs
    /// keep.
    pub unknown_column_places: Vec<String>,
}

/// Checks the name of a delivery against the source it came from.
pub fn check_file_name(file_name: &str, kind: ExtractKind, source: Rhf) -> Result<Delivery, FileRejection> {
    let delivery = Delivery::parse(file_name).map_err(|m| FileRejection::new(Rule::FileName, None, m))?;
    if delivery.rhf != source {
        return Err(FileRejection::new(
            Rule::FileRhf,
            None,
            format!("the file is named for {}; this source is {source}", delivery.rhf),
        ));
    }
    if delivery.extract != kind {
        return Err(FileRejection::new(
            Rule::FileName,
            None,
            format!("the file is a `{}` delivery; this source takes `{kind}`", delivery.extract),
        ));
    }
    let ext = source.dialect().format.extension();
    if delivery.extension != ext {
        return Err(FileRejection::new(
            Rule::FileName,
            None,
            format!("extension `.{}`; {source} delivers `.{ext}`", delivery.extension),
        ));
    }
    Ok(delivery)
}

/// Checks one delivery, calling `on_row` once for every row, in file order. `open` is called two or
/// three times (the file is streamed, never held in memory): a first pass over the ids alone finds
/// the repeated ones, the last checks every row. A file-level failure rejects the whole file and
/// counts no rows; no row has been handed on by then unless the failure is a read error in the
/// last pass, so callers discard what they collected.
pub fn check_delivery<R: Read>(
    file_name: &str,
    kind: ExtractKind,
    source: Rhf,
    reference: &Reference,
    open: impl FnMut() -> std::io::Result<R>,
    mut on_row: impl FnMut(&CheckedRow<'_>),
) -> Result<(Delivery, FileSummary), FileRejection> {
    check_passes(file_name, kind, source, reference, open, false, |event| {
        if let RowEvent::Row(row) = event {
            on_row(row)
        }
    })
}

/// What [`check_delivery_in_one_pass`] hands on.
#[derive(Debug)]
pub enum RowEvent<'r, 'a> {
    Row(&'r CheckedRow<'a>),
    /// The rows handed on so far are void: the delivery repeats ids, and every row comes again,
    /// from the first, with those ids rejected.
    Restart,
}

/// Checks one delivery in a single pass where it can: every row is checked and handed on as it is
/// read, and the ids are collected on the way. Where ids repeat (a delivery fault, rare), the rows
/// handed on are voided by [`RowEvent::Restart`] and the file is checked again; the rows handed on
/// after the last `Restart` are exactly those [`check_delivery`] gives. A file-level failure can
/// come after rows were handed on; callers discard them.
pub fn check_delivery_in_one_pass<R: Read>(
    file_name: &str,
    kind: ExtractKind,
    source: Rhf,
    reference: &Reference,
    open: impl FnMut() -> std::io::Result<R>,
    on_event: impl FnMut(RowEvent<'_, '_>),
) -> Result<(Delivery, FileSummary), FileRejection> {
    check_passes(file_name, kind, source, reference, open, true, on_event)
}

fn check_passes<R: Read>(
    file_name: &str,
    kind: ExtractKind,
    source: Rhf,
    reference: &Reference,
    mut open: impl FnMut() -> std::io::Result<R>,
    one_pass: bool,
    mut on_event: impl FnMut(RowEvent<'_, '_>),
) -> Result<(Delivery, FileSummary), FileRejection> {
    let delivery = check_file_name(file_name, kind, source)?;
    let dialect = source.dialect();
    let checker = RowChecker::new(kind, source, delivery.period, reference);
    let mut reader = || {
        let input = open().map_err(|e| FileRejection::new(Rule::Unreadable, None, e.to_string()))?;
        RecordReader::new(input, kind, dialect)
    };

    let mut hashes = Vec::new();
    if one_pass {
        let summary = checking_pass(reader()?, &checker, &RepeatedIds::default(), Some(&mut hashes), &mut on_event)?;
        let repeated = repeated_ids(&checker, hashes, &mut reader)?;
        if repeated.is_empty() {
            return Ok((delivery, summary));
        }
        on_event(RowEvent::Restart);
        let summary = checking_pass(reader()?, &checker, &repeated, None, &mut on_event)?;
        return Ok((delivery, summary));
    }
    // Pass 1: decodability of every record, and the ids.
    let mut first = reader()?;
    while let Some(record) = first.next_record()? {
        if let Some(parts) = checker.id_parts(&record) {
            hashes.push(id_hash(parts));
        }
    }
    let repeated = repeated_ids(&checker, hashes, &mut reader)?;
    let summary = checking_pass(reader()?, &checker, &repeated, None, &mut on_event)?;
    Ok((delivery, summary))
}

/// The ids among `hashes` (one per row) that repeat. Where 64-bit hashes repeat, the file is read
/// once more to count the exact ids of those rows, so that a hash collision never rejects a row.
fn repeated_ids<R: Read>(
    checker: &RowChecker<'_>,
    mut hashes: Vec<u64>,
    reader: &mut impl FnMut() -> Result<RecordReader<R>, FileRejection>,
) -> Result<RepeatedIds, FileRejection> {
    hashes.sort_unstable();
    let mut repeated = RepeatedIds {
        candidates: hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect(),
        exact: HashSet::new(),
    };
    drop(hashes);
    if repeated.candidates.is_empty() {
        return Ok(repeated);
    }
    let mut counts: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let mut again = reader()?;
    while let Some(record) = again.next_record()? {
        if let Some(parts) = checker.id_parts(&record)
            && repeated.candidates.contains(&id_hash(parts))
        {
            *counts.entry(exact_key(parts)).or_default() += 1;
        }
    }
    repeated.exact = counts.into_iter().filter(|(_, n)| *n > 1).map(|(k, _)| k).collect();
    Ok(repeated)
}

/// Checks and types every row of `reader`, handing each on; collects the rows' id hashes where asked.
fn checking_pass<R: Read>(
    mut reader: RecordReader<R>,
    checker: &RowChecker<'_>,
    repeated: &RepeatedIds,
    mut hashes: Option<&mut Vec<u64>>,
    on_event: &mut impl FnMut(RowEvent<'_, '_>),
) -> Result<FileSummary, FileRejection> {
    let mut summary = FileSummary {
        rows_read: 0,
        rows_loaded: 0,
        rows_rejected: 0,
        rows_rejected_by_rule: BTreeMap::new(),
        violations_by_rule: BTreeMap::new(),
        unknown_columns: Vec::new(),
        unknown_column_places: Vec::new(),
    };
    // The row's buffers are reused from record to record; the values borrow from each record.
    let mut spare: CheckedRow<'static> = CheckedRow::default();
    while let Some(record) = reader.next_record()? {
        let mut row = CheckedRow {
            line: 0,
            values: recycle(std::mem::take(&mut spare.values)),
            violations: std::mem::take(&mut spare.violations),
        };
        checker.check(&record, repeated, &mut row);
        if let (Some(hashes), Some(parts)) = (hashes.as_deref_mut(), checker.id_parts(&record)) {
            hashes.push(id_hash(parts));
        }
        summary.rows_read += 1;
        if row.violations.is_empty() {
            summary.rows_loaded += 1;
        } else {
            summary.rows_rejected += 1;
            *summary.rows_rejected_by_rule.entry(row.violations[0].rule).or_default() += 1;
            for v in &row.violations {
                *summary.violations_by_rule.entry(v.rule).or_default() += 1;
            }
        }
        on_event(RowEvent::Row(&row));
        spare.values = recycle(row.values);
        spare.violations = row.violations;
    }
    summary.unknown_columns = reader.unknown_columns().names.iter().cloned().collect();
    summary.unknown_column_places = reader.unknown_columns().places.clone();
    Ok(summary)
}

/// An empty vector of values for another record's lifetime, keeping the allocation (the standard
/// library collects in place where the element layout is the same).
fn recycle<'b>(mut values: Vec<Value<'_>>) -> Vec<Value<'b>> {
    values.clear();
    values.into_iter().map(|_| unreachable!("the vector is empty")).collect()
}

/// The ids that occur more than once in a delivery. Memory: 8 bytes per row during the first pass,
/// then only the repeated ones.
#[derive(Debug, Default)]
pub struct RepeatedIds {
    candidates: HashSet<u64>,
    exact: HashSet<String>,
}

impl RepeatedIds {
    fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }

    fn contains(&self, parts: [&str; 3]) -> bool {
        self.candidates.contains(&id_hash(parts)) && self.exact.contains(&exact_key(parts))
    }
}

/// XXH3 of the parts, each after its length. Short keys (all valid ones) are hashed in one call
/// over a stack buffer; the streaming hasher gives the same value for longer ones.
fn id_hash(parts: [&str; 3]) -> u64 {
    let mut buf = [0u8; 160];
    let mut n = 0;
    for part in parts {
        let end = n + 8 + part.len();
        if end > buf.len() {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for part in parts {
                h.update(&(part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
            return h.digest();
        }
        buf[n..n + 8].copy_from_slice(&(part.len() as u64).to_le_bytes());
        buf[n + 8..end].copy_from_slice(part.as_bytes());
        n = end;
    }
    xxhash_rust::xxh3::xxh3_64(&buf[..n])
}

fn exact_key(parts: [&str; 3]) -> String {
    parts.iter().map(|p| format!("{}:{p}", p.len())).collect()
}

/// Checks rows of one delivery.
pub struct RowChecker<'a> {
    kind: ExtractKind,
    source: Rhf,
    dialect: Dialect,
    period: Period,
    reference: &'a Reference,
    columns: &'static [Column],
    hf_col: usize,
    id_col: usize,
    /// Indices of the columns the cross-field rules read (`cross_columns`), looked up once.
    cross: Vec<usize>,
}

/// The columns each extract's cross-field rules read, in the order `cross_checks` takes them.
fn cross_columns(kind: ExtractKind) -> &'static [&'static str] {
    match kind {
        ExtractKind::Activity => &[
            "startdato",
            "sluttdato",
            "deltakere_pasient",
            "deltakere_parorende",
            "fullfort",
            "avlyst",
            "samarbeid_kommune",
        ],
        ExtractKind::Coding => &["bydel", "bostedskommune", "kontaktdato"],
        ExtractKind::Evaluation => &["pam_score", "pam_niva"],
    }
}

/// A value as quarantine and reports keep it: identity numbers masked, then cut to 80 characters
/// (masking first, so no cut leaves part of a number).
fn kept(s: &str) -> String {
    cut(&crate::identity::mask_identity_numbers(s))
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

impl<'a> RowChecker<'a> {
    pub fn new(kind: ExtractKind, source: Rhf, period: Period, reference: &'a Reference) -> RowChecker<'a> {
        RowChecker {
            kind,
            source,
            dialect: source.dialect(),
            period,
            reference,
            columns: kind.columns(),
            hf_col: kind.column_index("hf").expect("every extract has hf"),
            id_col: kind.column_index(kind.id_column()).expect("id column"),
            cross: cross_columns(kind).iter().map(|c| kind.column_index(c).expect("declared column")).collect(),
        }
    }

    /// The key for uniqueness: (rhf, hf, id) as written; `None` where hf or id is missing.
    fn id_parts<'r>(&self, record: &'r RawRecord<'_>) -> Option<[&'r str; 3]> {
        let Body::Fields(fields) = &record.body else { return None };
        let text = |col| match fields.get(col) {
            Raw::Text(s) if !s.is_empty() => Some(s),
            Raw::Json(crate::reader::JsonField::Str(s)) if !s.is_empty() => Some(s.as_ref()),
            _ => None,
        };
        Some([text(0).unwrap_or_default(), text(self.hf_col)?, text(self.id_col)?])
    }

    /// Checks one record into `row` (cleared first).
    pub fn check<'r>(&self, record: &'r RawRecord<'_>, repeated_ids: &RepeatedIds, row: &mut CheckedRow<'r>) {
        row.line = record.line;
        row.values.clear();
        row.violations.clear();
        let fields = match &record.body {
            Body::Malformed(why) => {
                row.violations.push(Violation {
                    line: record.line,
                    column: None,
                    rule: Rule::MalformedRecord,
                    value: None,
                    // A parser's message may quote the line.
                    expected: crate::identity::mask_identity_numbers(&format!("a well-formed record ({why})"))
                        .into_owned(),
                });
                return;
            }
            Body::TooLong(limit) => {
                row.violations.push(Violation {
                    line: record.line,
                    column: None,
                    rule: Rule::RecordTooLong,
                    value: None,
                    expected: format!("a record of at most {limit} bytes (the rest was not read)"),
                });
                return;
            }
            Body::Fields(f) => f,
        };
        for (i, col) in self.columns.iter().enumerate() {
            let raw = fields.get(i);
            // The field as text, where it may hold digits (a JSON string, number or object).
            let text: Option<std::borrow::Cow<'_, str>> = match raw {
                Raw::Text("") | Raw::Missing | Raw::Json(JsonField::Null | JsonField::Bool(_)) => None,
                Raw::Text(s) => Some(s.into()),
                Raw::Json(JsonField::Str(s)) => Some(s.as_ref().into()),
                Raw::Json(v) => Some(v.to_string().into()),
            };
            // A NUL byte ends a string in C tools downstream, and has no place in an extract's text.
            if let Some(text) = &text
                && text.contains('\0')
            {
                row.violations.push(Violation {
                    line: record.line,
                    column: Some(col.name),
                    rule: Rule::NulByte,
                    value: Some(match col.ty {
                        ColumnType::Fodselsnummer => crate::identity::MASK.to_string(),
                        _ => kept(&text.replace('\0', "\\0")),
                    }),
                    expected: "text without NUL bytes".into(),
                });
                row.values.push(Value::Null);
                continue;
            }
            // A person's identity number belongs in `fodselsnummer` alone: anywhere else it would
            // be loaded as it stands.
            if col.ty != ColumnType::Fodselsnummer
                && let Some(text) = &text
                && crate::identity::has_identity_number(text)
            {
                row.violations.push(Violation {
                    line: record.line,
                    column: Some(col.name),
                    rule: Rule::IdentityNumberInText,
                    value: Some(kept(text)),
                    expected: "no identity number outside fodselsnummer (it is masked here and the row is not loaded)"
                        .into(),
                });
                row.values.push(Value::Null);
                continue;
            }
            let value = match self.value(col, raw) {
                Ok(v) => v,
                Err((rule, expected)) => {
                    let value = match col.ty {
                        ColumnType::Fodselsnummer => Some(crate::identity::MASK.to_string()),
                        _ => text.as_deref().map(kept),
                    };
                    row.violations.push(Violation { line: record.line, column: Some(col.name), rule, value, expected });
                    Value::Null
                }
            };
            row.values.push(value);
        }
        self.cross_checks(record.line, row);
        if !repeated_ids.is_empty()
            && let Some(parts) = self.id_parts(record)
            && repeated_ids.contains(parts)
        {
            row.violations.push(Violation {
                line: record.line,
                column: Some(self.kind.id_column()),
                rule: Rule::DuplicateId,
                value: Some(kept(self.text_value(row, self.id_col))),
                expected: "an id used once within (rhf, hf) in the delivery".into(),
            });
        }
    }

    fn text_value<'v>(&self, row: &'v CheckedRow<'_>, col: usize) -> &'v str {
        match &row.values[col] {
            Value::Text(s) => s,
            _ => "",
        }
    }

    fn cross_checks(&self, line: u64, row: &mut CheckedRow<'_>) {
        let mut found = Vec::new();
        let int = |v: &Value| if let Value::Int(i) = v { Some(*i) } else { None };
        // The i-th column of `cross_columns(self.kind)`.
        let values = &row.values;
        let get = |i: usize| &values[self.cross[i]];
        match self.kind {
            ExtractKind::Activity => {
                if let (Value::Date(start), Value::Date(end)) = (get(0), get(1)) {
                    let days = (*end - *start).num_days();
                    if !(0..=366).contains(&days) {
                        found.push((
                            "sluttdato",
                            Rule::DateOrder,
                            end.to_string(),
                            format!("a date from startdato {start} to 366 days after it"),
                        ));
                    }
                }
                let (p, r, f) = (int(get(2)), int(get(3)), int(get(4)));
                if let (Some(p), Some(r), Some(f)) = (p, r, f)
                    && f > p + r
                {
                    found.push(("fullfort", Rule::Completed, f.to_string(), format!("at most {} participants", p + r)));
                }
                if let (Value::Bool(true), Some(p), Some(r)) = (get(5), p, r)
                    && p + r > 0
                {
                    found.push((
                        "avlyst",
                        Rule::CancelledParticipants,
                        format!("cancelled with {} participants", p + r),
                        "0 participants in a cancelled run".into(),
                    ));
                }
                if let (Value::Text(kommune), Value::Date(start)) = (get(6), get(0)) {
                    found.extend(self.kommune_on_date("samarbeid_kommune", kommune, "startdato", *start));
                }
            }
            ExtractKind::Coding => {
                if let (Value::Text(bydel), Value::Text(kommune)) = (get(0), get(1))
                    && *kommune != OSLO
                {
                    found.push((
                        "bydel",
                        Rule::Bydel,
                        bydel.to_string(),
                        format!("no bydel where bostedskommune is {kommune} (only with {OSLO})"),
                    ));
                }
                if let (Value::Text(kommune), Value::Date(date)) = (get(1), get(2)) {
                    found.extend(self.kommune_on_date("bostedskommune", kommune, "kontaktdato", *date));
                }
            }
            ExtractKind::Evaluation => {
                if let (Value::Decimal(score), Some(level)) = (get(0), int(get(1))) {
                    let expected = pam_level(*score);
                    if level != expected {
                        found.push((
                            "pam_niva",
                            Rule::PamLevel,
                            level.to_string(),
                            format!("level {expected} for pam_score {}", *score as f64 / 100.0),
                        ));
                    }
                }
            }
        }
        for (column, rule, value, expected) in found {
            row.violations.push(Violation { line, column: Some(column), rule, value: Some(kept(&value)), expected });
        }
    }

    /// Rule `kommune_not_valid_on_date`: a code of the history used on a day outside its validity.
    fn kommune_on_date(
        &self,
        column: &'static str,
        code: &str,
        date_column: &str,
        date: chrono::NaiveDate,
    ) -> Option<(&'static str, Rule, String, String)> {
        let k = self.reference.kommune(code)?;
        if k.valid_on(date) {
            return None;
        }
        let successors = k.successors.join(" and ");
        Some((
            column,
            Rule::KommuneNotValidOnDate,
            code.to_string(),
            format!(
                "a kommunenummer valid on {date_column} {date}: {code} ({}) is {} (on 2024 borders {successors})",
                k.name,
                k.validity()
            ),
        ))
    }

    /// Checks and types one field.
    fn value<'r>(&self, col: &Column, raw: Raw<'r>) -> Result<Value<'r>, (Rule, String)> {
        use crate::reader::JsonField as J;
        let is_null = matches!(raw, Raw::Missing | Raw::Text("") | Raw::Json(J::Null));
        if is_null {
            return if col.required {
                Err((Rule::Required, format!("a value ({})", col.ty.describe())))
            } else {
                Ok(Value::Null)
            };
        }
        let json = matches!(self.dialect.format, FileFormat::JsonLines);
        // The text of a field that JSON must give as a string.
        let string = || -> Result<&'r str, (Rule, String)> {
            match raw {
                Raw::Text(s) => Ok(s),
                Raw::Json(J::Str(s)) => Ok(s),
                _ => Err((Rule::Format, "a JSON string".into())),
            }
        };
        match col.ty {
            ColumnType::Rhf => {
                let s = string()?;
                let rhf: Rhf = s.parse().map_err(|_| (Rule::Code, "one of HSO, HV, HMN, HN".to_string()))?;
                if rhf != self.source {
                    return Err((Rule::RhfMismatch, format!("{} (the delivering region)", self.source)));
                }
                Ok(Value::Text(s))
            }
            ColumnType::Hf => {
                let s = string()?;
                match self.reference.hf_region(s) {
                    Some(r) if r == self.source.code() => Ok(Value::Text(s)),
                    _ => Err((Rule::UnknownHf, format!("a health trust of {}", self.source))),
                }
            }
            ColumnType::Id => {
                let s = string()?;
                let n = s.chars().count();
                if !(1..=64).contains(&n) {
                    return Err((Rule::Length, "1–64 characters".into()));
                }
                Ok(Value::Text(s))
            }
            ColumnType::Text { max } => {
                let s = string()?;
                if s.chars().count() > max {
                    return Err((Rule::Length, format!("at most {max} characters")));
                }
                Ok(Value::Text(s))
            }
            ColumnType::Code(list) => {
                let s = string()?;
                if !list.contains(&s) {
                    return Err((Rule::Code, format!("one of {}", list.join(", "))));
                }
                Ok(Value::Text(s))
            }
            ColumnType::Bool => match raw {
                Raw::Json(J::Bool(b)) => Ok(Value::Bool(*b)),
                Raw::Text(_) | Raw::Json(J::Str(_)) => match string()? {
                    "1" | "true" | "ja" => Ok(Value::Bool(true)),
                    "0" | "false" | "nei" => Ok(Value::Bool(false)),
                    _ => Err((Rule::Format, "a bool: 1/0, true/false or ja/nei".into())),
                },
                Raw::Json(J::Number(n)) if n.as_u64() == Some(1) => Ok(Value::Bool(true)),
                Raw::Json(J::Number(n)) if n.as_u64() == Some(0) => Ok(Value::Bool(false)),
                _ => Err((Rule::Format, "a bool: 1/0, true/false or ja/nei".into())),
            },
            ColumnType::Kommune { unknown_allowed } => {
                let s = string()?;
                if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err((Rule::Format, "a 4-digit kommunenummer".into()));
                }
                if !(self.reference.is_kommune(s) || unknown_allowed && s == UNKNOWN_KOMMUNE) {
                    let or = if unknown_allowed { ", or 9999" } else { "" };
                    return Err((Rule::UnknownKommune, format!("a kommunenummer of the code history since 2020{or}")));
                }
                Ok(Value::Text(s))
            }
            ColumnType::Bydel => {
                let s = string()?;
                if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err((Rule::Format, "a 6-digit city district".into()));
                }
                if !self.reference.is_bydel(s) {
                    return Err((Rule::Bydel, "an Oslo city district in the reference list".into()));
                }
                Ok(Value::Text(s))
            }
            ColumnType::Date { in_period } => {
                let s = string()?;
                let d = self
                    .dialect
                    .dates
                    .parse(s)
                    .ok_or_else(|| (Rule::Format, format!("a date {}", self.dialect.dates.pattern())))?;
                if in_period && !self.period.contains(d) {
                    return Err((Rule::Period, format!("a date in the delivery's period {}", self.period)));
                }
                Ok(Value::Date(d))
            }
            ColumnType::Int { min, max } => {
                let n = match raw {
                    Raw::Json(J::Number(n)) => {
                        n.as_i64().ok_or_else(|| (Rule::Format, "a whole number".to_string()))?
                    }
                    Raw::Text(s) if !json => {
                        parse_int(s).ok_or_else(|| (Rule::Format, "a whole number".to_string()))?
                    }
                    _ => return Err((Rule::Format, "a JSON number".into())),
                };
                if !(min..=max).contains(&n) {
                    return Err((Rule::Range, col.ty.describe()));
                }
                Ok(Value::Int(n))
            }
            ColumnType::Decimal { scale, min, max, min_exclusive } => {
                let parsed = match raw {
                    Raw::Json(J::Number(n)) => parse_decimal(&n.to_string(), '.', scale),
                    Raw::Text(s) if !json => parse_decimal(s, self.dialect.decimal_mark, scale),
                    _ => return Err((Rule::Format, "a JSON number".into())),
                };
                let n = parsed.ok_or_else(|| {
                    let mark = if json { '.' } else { self.dialect.decimal_mark };
                    (
                        Rule::Format,
                        format!("a decimal number with `{mark}` as decimal mark and at most {scale} decimals"),
                    )
                })?;
                if n > max || n < min || min_exclusive && n == min {
                    return Err((Rule::Range, col.ty.describe()));
                }
                Ok(Value::Decimal(n))
            }
            ColumnType::Fodselsnummer => {
                let s = string()?;
                match identity::parse(s) {
                    Ok(identity) => Ok(Value::Identity(IdentityValue { number: s, identity })),
                    Err(e) => Err((Rule::Fodselsnummer, format!("a valid identity number ({e})"))),
                }
            }
            ColumnType::Icd10 => {
                let s = string()?;
                if !is_icd10(s) {
                    return Err((
                        Rule::Icd10,
                        "an ICD-10 code: letter, two digits, optional . and 1–2 characters".into(),
                    ));
                }
                if self.reference.icd10_group(s).is_none() {
                    return Err((
                        Rule::Icd10,
                        "an ICD-10 code in an LMS diagnosis group (reference icd10_groups)".into(),
                    ));
                }
                Ok(Value::Text(s))
            }
            ColumnType::CodeList { item } => {
                let items: Vec<&str> = match raw {
                    Raw::Json(J::Array(a)) => a
                        .iter()
                        .map(|v| if let J::Str(s) = v { Some(s.as_ref()) } else { None })
                        .collect::<Option<_>>()
                        .ok_or_else(|| (Rule::Format, "an array of strings".to_string()))?,
                    _ => string()?.split('|').collect(),
                };
                let (lo, hi) = match item {
                    ListItem::Procedure => (5, 7),
                    ListItem::SpecialCode => (1, 10),
                };
                for it in &items {
                    if !(lo..=hi).contains(&it.len()) || !it.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        return Err((Rule::Format, col.ty.describe()));
                    }
                }
                Ok(Value::List(items))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_hash_is_one_function_of_the_parts_whatever_their_length() {
        let streaming = |parts: [&str; 3]| {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for part in parts {
                h.update(&(part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
            h.digest()
        };
        let long = "x".repeat(200);
        for parts in
            [["HSO", "AHUS", "AHUS-1"], ["", "", ""], ["HSO", "AHUS", long.as_str()], ["HS", "OAHUS", "AHUS-1"]]
        {
            assert_eq!(id_hash(parts), streaming(parts), "{parts:?}");
        }
        assert_ne!(id_hash(["HSO", "AHUS", "1"]), id_hash(["HSOA", "HUS", "1"]), "lengths separate the parts");
    }

    #[test]
    fn recycling_keeps_the_allocation() {
        let text = String::from("x");
        let mut values = Vec::with_capacity(24);
        values.push(Value::Text(&text));
        let ptr = values.as_ptr() as usize;
        let recycled: Vec<Value<'static>> = recycle(values);
        assert!(recycled.is_empty());
        assert_eq!((recycled.capacity(), recycled.as_ptr() as usize), (24, ptr));
    }
}
