//! Streaming decoding of one delivery in its source's dialect: records with the physical line they
//! start on, fields addressed by contract column. Memory is bounded by the longest record.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::bounded::{Bounded, MAX_RECORD_BYTES};
use crate::contract::ExtractKind;
use crate::dialect::{Dialect, Encoding, FileFormat};
use crate::rule::Rule;

/// Why a whole file is rejected. Never carries a field's value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{rule}: {message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct FileRejection {
    pub rule: Rule,
    pub line: Option<u64>,
    pub message: String,
}

impl FileRejection {
    /// A rejection whose message has any identity number masked (a message may quote a file name
    /// or a parser's view of the bytes).
    pub fn new(rule: Rule, line: Option<u64>, message: impl Into<String>) -> FileRejection {
        let message = message.into();
        let message = crate::identity::mask_identity_numbers(&message).into_owned();
        FileRejection { rule, line, message }
    }
}

/// Columns or keys of a file that the contract does not have: their names (identity numbers
/// masked), for the producer's `lms check`, and where they stand without their names, for run
/// records and logs, which hold no value from a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unknown {
    /// Normalised names, identity numbers masked.
    pub names: BTreeSet<String>,
    /// `column N` (1-based, CSV) or `key N` (JSON Lines, in the order first seen).
    pub places: Vec<String>,
    /// The JSON keys seen, as written (two keys may mask alike); kept in memory only.
    seen: BTreeSet<String>,
}

impl Unknown {
    fn column(&mut self, name: &str, index: usize) {
        self.names.insert(crate::identity::mask_identity_numbers(name).into_owned());
        self.places.push(format!("column {}", index + 1));
    }

    fn key(&mut self, name: &str) {
        if self.seen.insert(name.to_string()) {
            self.names.insert(crate::identity::mask_identity_numbers(name).into_owned());
            self.places.push(format!("key {}", self.places.len() + 1));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }
}

/// One field as it stands in the file.
#[derive(Clone, Copy, Debug)]
pub enum Raw<'a> {
    /// Not in the header, or a key missing from the JSON object.
    Missing,
    Text(&'a str),
    Json(&'a JsonField<'a>),
}

/// A JSON value of one field, borrowing its strings from the line where they have no escapes.
#[derive(Clone, Debug, PartialEq)]
pub enum JsonField<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(Cow<'a, str>),
    Array(Vec<JsonField<'a>>),
    /// An object, which no contract column takes; kept whole to show it in quarantine.
    Object(serde_json::Value),
}

/// Compact JSON, as `serde_json` writes it.
impl fmt::Display for JsonField<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonField::Null => f.write_str("null"),
            JsonField::Bool(b) => write!(f, "{b}"),
            JsonField::Number(n) => write!(f, "{n}"),
            JsonField::Str(s) => f.write_str(&serde_json::to_string(s.as_ref()).map_err(|_| fmt::Error)?),
            JsonField::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            JsonField::Object(v) => write!(f, "{v}"),
        }
    }
}

impl<'de> Deserialize<'de> for JsonField<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonField<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(JsonField::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(JsonField::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
                Ok(JsonField::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
                Ok(JsonField::Number(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
                Ok(JsonField::Number(n.into()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
                serde_json::Number::from_f64(n).map(JsonField::Number).ok_or_else(|| E::custom("a finite number"))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(JsonField::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(JsonField::Str(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(JsonField::Str(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(JsonField::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(JsonField::Object)
            }
        }
        d.deserialize_any(V)
    }
}

/// An object key, borrowed where it has no escapes.
#[derive(serde::Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// Reads one JSON line into the contract's slots; `false` where the line is JSON but not an object.
struct JsonLine<'s, 'a> {
    columns: &'static [crate::contract::Column],
    slots: &'s mut Vec<Option<JsonField<'a>>>,
    unknown: &'s mut Unknown,
}

impl<'de> de::DeserializeSeed<'de> for JsonLine<'_, 'de> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonLine<'_, 'de> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let index = |name: &str| self.columns.iter().position(|c| c.name == name);
        while let Some(Key(key)) = map.next_key()? {
            // Exact names are the rule; case and surrounding spaces do not matter.
            match index(&key).or_else(|| index(&normalise(&key))) {
                Some(i) => self.slots[i] = Some(map.next_value()?),
                None => {
                    map.next_value::<de::IgnoredAny>()?;
                    self.unknown.key(&normalise(&key));
                }
            }
        }
        Ok(true)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
}

/// A record: its line and either its fields or why it is malformed.
#[derive(Debug)]
pub struct RawRecord<'a> {
    /// The physical line the record starts on; a CSV header is line 1.
    pub line: u64,
    pub body: Body<'a>,
}

#[derive(Debug)]
pub enum Body<'a> {
    Fields(Fields<'a>),
    Malformed(String),
    /// A record over the size limit, cut there (`crate::bounded`): the limit in bytes.
    TooLong(usize),
}

#[derive(Debug)]
pub enum Fields<'a> {
    Csv { text: &'a str, bounds: &'a [(usize, usize)], map: &'a [Option<usize>] },
    Json { slots: Vec<Option<JsonField<'a>>> },
}

impl Fields<'_> {
    /// The raw field of contract column `col`.
    pub fn get(&self, col: usize) -> Raw<'_> {
        match self {
            Fields::Csv { text, bounds, map } => match map[col] {
                Some(i) => {
                    let (a, b) = bounds[i];
                    Raw::Text(&text[a..b])
                }
                None => Raw::Missing,
            },
            Fields::Json { slots } => match &slots[col] {
                Some(v) => Raw::Json(v),
                None => Raw::Missing,
            },
        }
    }
}

/// Normalises a header name or JSON key: case and surrounding spaces do not matter.
fn normalise(name: &str) -> String {
    name.trim().to_lowercase()
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const WINDOWS_1252_UNDEFINED: [u8; 5] = [0x81, 0x8D, 0x8F, 0x90, 0x9D];

/// Decodes one field into `out`; `Err` with a description where the bytes are not in the encoding.
fn decode_field(bytes: &[u8], encoding: Encoding, out: &mut String) -> Result<(), String> {
    if bytes.is_ascii() {
        out.push_str(std::str::from_utf8(bytes).expect("ASCII is UTF-8"));
        return Ok(());
    }
    match encoding {
        Encoding::Utf8 | Encoding::Utf8Bom => {
            let s = std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8 ({e})"))?;
            out.push_str(s);
        }
        Encoding::Windows1252 => {
            if let Some(b) = bytes.iter().find(|b| WINDOWS_1252_UNDEFINED.contains(b)) {
                return Err(format!("byte 0x{b:02X} is undefined in Windows-1252"));
            }
            out.push_str(&encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0);
        }
    }
    Ok(())
}

/// Reads the records of one delivery.
pub struct RecordReader<R: Read> {
    kind: ExtractKind,
    inner: Inner<R>,
    unknown_columns: Unknown,
}

enum Inner<R: Read> {
    Csv {
        reader: csv::Reader<BufReader<Bounded<R>>>,
        record: csv::ByteRecord,
        encoding: Encoding,
        header_len: usize,
        map: Vec<Option<usize>>,
        text: String,
        bounds: Vec<(usize, usize)>,
    },
    Json {
        reader: BufReader<Bounded<R>>,
        line: Vec<u8>,
        line_no: u64,
    },
}

impl<R: Read> RecordReader<R> {
    /// Starts reading: checks the byte order mark and, for CSV, the header.
    pub fn new(input: R, kind: ExtractKind, dialect: Dialect) -> Result<RecordReader<R>, FileRejection> {
        let csv = matches!(dialect.format, FileFormat::Csv { .. });
        let mut input = BufReader::with_capacity(1 << 16, Bounded::new(input, csv, MAX_RECORD_BYTES));
        let start = input.fill_buf().map_err(|e| FileRejection::new(Rule::Unreadable, None, e.to_string()))?;
        let has_bom = start.starts_with(UTF8_BOM);
        let empty = start.is_empty();
        match dialect.encoding {
            Encoding::Utf8Bom if !empty && !has_bom => {
                return Err(FileRejection::new(
                    Rule::Undecodable,
                    Some(1),
                    "the source's encoding is UTF-8 with a byte order mark, and the file does not start with one",
                ));
            }
            Encoding::Utf8Bom if has_bom => input.consume(UTF8_BOM.len()),
            Encoding::Utf8 | Encoding::Windows1252 if has_bom => {
                return Err(FileRejection::new(
                    Rule::Undecodable,
                    Some(1),
                    format!(
                        "the file starts with a UTF-8 byte order mark; the source's encoding is {:?}",
                        dialect.encoding
                    ),
                ));
            }
            _ => {}
        }
        let columns = kind.columns();
        let inner = match dialect.format {
            FileFormat::Csv { delimiter } => {
                let mut reader =
                    // Records end at LF; the CR of a CRLF is taken off the last field (fields_without_cr).
                    // With CRLF as terminator, csv-core reports a record's line one too low.
                    csv::ReaderBuilder::new()
                        .delimiter(delimiter)
                        .terminator(csv::Terminator::Any(b'\n'))
                        .has_headers(false)
                        .flexible(true)
                        .from_reader(input);
                let mut record = csv::ByteRecord::new();
                let got = reader.read_byte_record(&mut record).map_err(csv_error)?;
                if !got {
                    return Err(FileRejection::new(Rule::MissingColumn, Some(1), "the file is empty: no header row"));
                }
                let mut names = Vec::with_capacity(record.len());
                for field in fields_without_cr(&record) {
                    let mut s = String::new();
                    decode_field(field, dialect.encoding, &mut s)
                        .map_err(|e| FileRejection::new(Rule::Undecodable, Some(1), e))?;
                    names.push(normalise(&s));
                }
                let mut map = vec![None; columns.len()];
                let mut unknown = Unknown::default();
                for (i, name) in names.iter().enumerate() {
                    match kind.column_index(name) {
                        Some(c) if map[c].is_some() => {
                            return Err(FileRejection::new(
                                Rule::MissingColumn,
                                Some(1),
                                format!("the header names column `{name}` twice; each column once is expected"),
                            ));
                        }
                        Some(c) => map[c] = Some(i),
                        None => unknown.column(name, i),
                    }
                }
                let missing: Vec<&str> =
                    columns.iter().zip(&map).filter(|(c, m)| c.required && m.is_none()).map(|(c, _)| c.name).collect();
                if !missing.is_empty() {
                    return Err(FileRejection::new(
                        Rule::MissingColumn,
                        Some(1),
                        format!("the header lacks required column(s) {}", missing.join(", ")),
                    ));
                }
                return Ok(RecordReader {
                    kind,
                    inner: Inner::Csv {
                        reader,
                        record,
                        encoding: dialect.encoding,
                        header_len: names.len(),
                        map,
                        text: String::new(),
                        bounds: Vec::new(),
                    },
                    unknown_columns: unknown,
                });
            }
            FileFormat::JsonLines => Inner::Json { reader: input, line: Vec::new(), line_no: 0 },
        };
        Ok(RecordReader { kind, inner, unknown_columns: Unknown::default() })
    }

    /// Columns in the file that the contract does not have (kept out of the lake, reported once).
    /// The columns (CSV) or keys (JSON Lines) the contract does not have.
    pub fn unknown_columns(&self) -> &Unknown {
        &self.unknown_columns
    }

    /// The next record, `None` at the end. An error rejects the whole file.
    pub fn next_record(&mut self) -> Result<Option<RawRecord<'_>>, FileRejection> {
        match &mut self.inner {
            Inner::Csv { reader, record, encoding, header_len, map, text, bounds } => {
                let line = loop {
                    if !reader.read_byte_record(record).map_err(csv_error)? {
                        return Ok(None);
                    }
                    // A blank CRLF line is no record, as a blank LF line is not.
                    if !(record.len() == 1 && (record[0].is_empty() || &record[0] == b"\r")) {
                        break record.position().map_or(0, |p| p.line());
                    }
                };
                let bounded = reader.get_ref().get_ref();
                if bounded.is_cut(line) {
                    return Ok(Some(RawRecord { line, body: Body::TooLong(bounded.limit()) }));
                }
                bounds.clear();
                let bytes = record.as_slice();
                // Most records are valid UTF-8 as they stand (Windows-1252 too where they are
                // ASCII): their fields are read in place, not copied.
                let mut in_place = match encoding {
                    Encoding::Utf8 | Encoding::Utf8Bom => std::str::from_utf8(bytes).ok(),
                    Encoding::Windows1252 => bytes.is_ascii().then(|| std::str::from_utf8(bytes).expect("ASCII")),
                };
                if let Some(whole) = in_place {
                    bounds.extend(field_ranges(record).map(|r| (r.start, r.end)));
                    // Each field must be valid on its own, not only the record: bytes split by a
                    // delimiter can join into a character.
                    if !bounds.iter().all(|&(a, b)| whole.is_char_boundary(a) && whole.is_char_boundary(b)) {
                        in_place = None;
                    }
                }
                let text: &str = match in_place {
                    Some(whole) => whole,
                    None => {
                        // Decoded field by field; the error names the field's bytes.
                        text.clear();
                        bounds.clear();
                        for field in fields_without_cr(record) {
                            let a = text.len();
                            decode_field(field, *encoding, text)
                                .map_err(|e| FileRejection::new(Rule::Undecodable, Some(line), e))?;
                            bounds.push((a, text.len()));
                        }
                        text
                    }
                };
                if record.len() != *header_len {
                    return Ok(Some(RawRecord {
                        line,
                        body: Body::Malformed(format!("{} fields where the header has {}", record.len(), header_len)),
                    }));
                }
                Ok(Some(RawRecord { line, body: Body::Fields(Fields::Csv { text, bounds, map }) }))
            }
            Inner::Json { reader, line, line_no } => {
                loop {
                    line.clear();
                    let n = reader
                        .read_until(b'\n', line)
                        .map_err(|e| FileRejection::new(Rule::Unreadable, Some(*line_no + 1), e.to_string()))?;
                    if n == 0 {
                        return Ok(None);
                    }
                    *line_no += 1;
                    // Before decoding: the cut may split a character.
                    let bounded = reader.get_ref();
                    if bounded.is_cut(*line_no) {
                        return Ok(Some(RawRecord { line: *line_no, body: Body::TooLong(bounded.limit()) }));
                    }
                    let blank = match std::str::from_utf8(line) {
                        Ok(text) => text.trim().is_empty(),
                        Err(e) => {
                            let message = format!("invalid UTF-8 ({e})");
                            return Err(FileRejection::new(Rule::Undecodable, Some(*line_no), message));
                        }
                    };
                    if !blank {
                        break; // blank lines carry no record, as in CSV
                    }
                }
                // Validated above; checked again (cheaply) because the line is borrowed from here on.
                let text = std::str::from_utf8(line).expect("valid UTF-8").trim_end_matches(['\n', '\r']);
                let columns = self.kind.columns();
                let mut slots = Vec::with_capacity(columns.len());
                slots.resize_with(columns.len(), || None);
                let seed = JsonLine { columns, slots: &mut slots, unknown: &mut self.unknown_columns };
                let mut de = serde_json::Deserializer::from_str(text);
                let parsed =
                    de::DeserializeSeed::deserialize(seed, &mut de).and_then(|object| de.end().map(|()| object));
                let body = match parsed {
                    Ok(true) => Body::Fields(Fields::Json { slots }),
                    Ok(false) => Body::Malformed("the line is JSON but not an object".into()),
                    Err(e) => Body::Malformed(format!("the line is not JSON: {e}")),
                };
                Ok(Some(RawRecord { line: *line_no, body }))
            }
        }
    }

    pub fn kind(&self) -> ExtractKind {
        self.kind
    }
}

/// Where each field of a record lies in `record.as_slice()`, with the CR of a CRLF line end taken
/// off the last one.
fn field_ranges(record: &csv::ByteRecord) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let n = record.len();
    let bytes = record.as_slice();
    (0..n).map(move |i| {
        let r = record.range(i).expect("a field of the record");
        let cr = i + 1 == n && bytes[r.clone()].ends_with(b"\r");
        r.start..if cr { r.end - 1 } else { r.end }
    })
}

/// The fields of a record, with the CR of a CRLF line end taken off the last one.
fn fields_without_cr(record: &csv::ByteRecord) -> impl Iterator<Item = &[u8]> {
    field_ranges(record).map(|r| &record.as_slice()[r])
}

fn csv_error(e: csv::Error) -> FileRejection {
    let line = e.position().map(|p| p.line());
    FileRejection::new(Rule::Unreadable, line, e.to_string())
}
