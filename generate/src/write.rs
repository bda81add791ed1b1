//! Writes records the way each region delivers them (extracts.md dialects), noting the physical line
//! every record starts on so that the manifest can say where each planted fault is.

use chrono::NaiveDate;
use lms_schemas::ExtractKind;
use lms_schemas::dialect::{DateFormat, Encoding, FileFormat, Rhf};

/// A value to write, before the dialect formats it.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Str(String),
    Int(i64),
    /// Hundredths.
    Dec(i64),
    Date(NaiveDate),
    Bool(bool),
    List(Vec<String>),
    /// Written verbatim as text (a planted fault: a value in another region's format, a bad code).
    Raw(String),
}

/// One record in contract column order. `malformed` writes it broken (too few CSV fields; a JSON
/// line that is not an object).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub cells: Vec<Cell>,
    pub malformed: bool,
}

impl Record {
    pub fn new(cells: Vec<Cell>) -> Record {
        Record { cells, malformed: false }
    }
}

/// Marks where a planted undecodable byte goes; replaced after encoding.
pub const CORRUPT_MARKER: &str = "@@CORRUPT@@";

/// How a file is written apart from its records.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileOptions<'a> {
    /// Leave this column out of the header and the records (a planted missing column).
    pub omit_column: Option<&'a str>,
}

fn decimal(hundredths: i64, mark: char) -> String {
    let sign = if hundredths < 0 { "-" } else { "" };
    let a = hundredths.unsigned_abs();
    let (int, frac) = (a / 100, a % 100);
    match frac {
        0 => format!("{sign}{int}"),
        f if f % 10 == 0 => format!("{sign}{int}{mark}{}", f / 10),
        f => format!("{sign}{int}{mark}{f:02}"),
    }
}

fn bool_text(rhf: Rhf, b: bool) -> &'static str {
    match (rhf, b) {
        (Rhf::Hso, true) => "true",
        (Rhf::Hso, false) => "false",
        (Rhf::Hv, true) => "ja",
        (Rhf::Hv, false) => "nei",
        (_, true) => "1",
        (_, false) => "0",
    }
}

fn text(cell: &Cell, rhf: Rhf) -> String {
    let d = rhf.dialect();
    match cell {
        Cell::Null => String::new(),
        Cell::Str(s) | Cell::Raw(s) => s.clone(),
        Cell::Int(i) => i.to_string(),
        Cell::Dec(h) => decimal(*h, d.decimal_mark),
        Cell::Date(date) => d.dates.format(*date),
        Cell::Bool(b) => bool_text(rhf, *b).to_string(),
        Cell::List(l) => l.join("|"),
    }
}

fn json(cell: &Cell) -> String {
    let s = |v: &str| serde_json::to_string(v).expect("string");
    match cell {
        Cell::Null => "null".into(),
        Cell::Str(v) | Cell::Raw(v) => s(v),
        Cell::Int(i) => i.to_string(),
        Cell::Dec(h) => decimal(*h, '.'),
        Cell::Date(date) => s(&DateFormat::Iso.format(*date)),
        Cell::Bool(b) => b.to_string(),
        Cell::List(l) => s(&l.join("|")),
    }
}

fn encode(s: &str, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Windows1252 => {
            let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(s);
            assert!(!unmappable, "generated text {s:?} is not representable in Windows-1252");
            bytes.into_owned()
        }
        Encoding::Utf8 | Encoding::Utf8Bom => s.as_bytes().to_vec(),
    }
}

/// Writes a file's bytes; returns them and the line each record starts on.
pub fn write_file(rhf: Rhf, kind: ExtractKind, records: &[Record], options: FileOptions<'_>) -> (Vec<u8>, Vec<u64>) {
    let dialect = rhf.dialect();
    let columns: Vec<(usize, &str)> = kind
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| Some(c.name) != options.omit_column)
        .map(|(i, c)| (i, c.name))
        .collect();
    let mut out = Vec::new();
    if dialect.encoding == Encoding::Utf8Bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut lines = Vec::with_capacity(records.len());
    match dialect.format {
        FileFormat::Csv { delimiter } => {
            let terminator = match dialect.line_end {
                lms_schemas::dialect::LineEnd::Lf => csv::Terminator::Any(b'\n'),
                lms_schemas::dialect::LineEnd::CrLf => csv::Terminator::CRLF,
            };
            let mut w = csv::WriterBuilder::new()
                .delimiter(delimiter)
                .terminator(terminator)
                .flexible(true)
                .from_writer(std::mem::take(&mut out));
            w.write_record(columns.iter().map(|(_, name)| encode(name, dialect.encoding))).expect("write to memory");
            w.flush().expect("flush to memory");
            let mut newlines = 1u64;
            let mut seen = w.get_ref().len();
            for r in records {
                lines.push(newlines + 1);
                let fields = columns.iter().map(|(i, _)| encode(&text(&r.cells[*i], rhf), dialect.encoding));
                if r.malformed {
                    w.write_record(fields.take(3)).expect("write to memory");
                } else {
                    w.write_record(fields).expect("write to memory");
                }
                w.flush().expect("flush to memory");
                let buf = w.get_ref();
                newlines += buf[seen..].iter().filter(|b| **b == b'\n').count() as u64;
                seen = buf.len();
            }
            out = w.into_inner().expect("flush to memory");
        }
        FileFormat::JsonLines => {
            for (n, r) in records.iter().enumerate() {
                lines.push(n as u64 + 1);
                if r.malformed {
                    out.extend_from_slice(b"[\"not\", \"an\", \"object\"]\n");
                    continue;
                }
                let mut line = String::from("{");
                let mut first = true;
                for (i, name) in &columns {
                    let cell = &r.cells[*i];
                    // Nulls alternate between a missing key and `null`: the contract allows both.
                    if *cell == Cell::Null && n % 2 == 0 {
                        continue;
                    }
                    if !first {
                        line.push_str(", ");
                    }
                    first = false;
                    line.push_str(&format!("\"{name}\": {}", json(cell)));
                }
                line.push_str("}\n");
                out.extend_from_slice(line.as_bytes());
            }
        }
    }
    (out, lines)
}

/// Replaces the corruption marker with bytes the file's encoding cannot decode.
pub fn corrupt(bytes: &mut Vec<u8>, rhf: Rhf) -> bool {
    let marker = CORRUPT_MARKER.as_bytes();
    let Some(at) = bytes.windows(marker.len()).position(|w| w == marker) else { return false };
    let bad: &[u8] = match rhf.dialect().encoding {
        Encoding::Windows1252 => b"\x81",
        Encoding::Utf8 | Encoding::Utf8Bom => b"\xFF\xFE",
    };
    bytes.splice(at..at + marker.len(), bad.iter().copied());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_in_each_mark() {
        assert_eq!(decimal(1250, ','), "12,5");
        assert_eq!(decimal(1200, '.'), "12");
        assert_eq!(decimal(1205, '.'), "12.05");
        assert_eq!(decimal(-325, '.'), "-3.25");
    }
}
