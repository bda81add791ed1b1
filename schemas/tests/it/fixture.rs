//! Hand-rendered deliveries: a value per column, written in a region's dialect by code that shares
//! nothing with the generator, so a fault in one cannot hide a fault in the other.

use std::io::Cursor;

use lms_schemas::dialect::Rhf;
use lms_schemas::{
    CheckedRow, ExtractKind, FileRejection, FileSummary, Reference, RowEvent, Violation, check_delivery,
    check_delivery_in_one_pass,
};

/// A value as a test writes it.
#[derive(Clone, Debug)]
pub enum V {
    Null,
    /// Text, a code or an id.
    S(&'static str),
    Owned(String),
    I(i64),
    /// A decimal written with `.`; rendered with the dialect's mark.
    D(&'static str),
    /// (year, month, day), rendered in the dialect's date format.
    Date(i32, u32, u32),
    B(bool),
    /// Written exactly as given (a JSON string in JSON Lines).
    Raw(&'static str),
}

pub type Row = Vec<(&'static str, V)>;

pub fn set(row: &mut Row, column: &str, v: V) {
    row.iter_mut().find(|(c, _)| *c == column).unwrap_or_else(|| panic!("no column {column}")).1 = v;
}

/// A valid synthetic test number: born 15.05.1985 (month + 80), individual 123, male.
/// Digits: 15 85 85 123 k1 k2 with k1 = 11 - (3+35+48+5+64+45+4+10+6) mod 11 = 11 - 220 mod 11 = 11 - 0 → 0,
/// k2 = 11 - (5+20+24+10+56+30+5+8+9+0) mod 11 = 11 - 167 mod 11 = 11 - 2 = 9.
pub const FNR: &str = "15858512309";

/// A clean row of each extract for period 2025-03 at health trust `hf` of `rhf`.
pub fn base(kind: ExtractKind, rhf: Rhf) -> Row {
    let hf = match rhf {
        Rhf::Hso => "OUS",
        Rhf::Hv => "HBE",
        Rhf::Hmn => "STO",
        Rhf::Hn => "UNN",
    };
    match kind {
        ExtractKind::Activity => vec![
            ("rhf", V::S(rhf.code())),
            ("hf", V::S(hf)),
            ("kurs_id", V::S("K-1")),
            ("tittel", V::S("Pårørendeskole, \"rus\"; del 1")),
            ("diagnosegruppe", V::S("rus")),
            ("malgruppe", V::S("begge")),
            ("prioritert_gruppe", V::S("psykisk_rus")),
            ("format", V::S("hybrid")),
            ("sprak", V::S("nb")),
            ("tolk_tilbudt", V::B(false)),
            ("samarbeid_kommune", V::S("0301")),
            ("bruker_planlegging", V::B(true)),
            ("bruker_gjennomforing", V::B(true)),
            ("bruker_evaluering", V::B(false)),
            ("startdato", V::Date(2025, 3, 3)),
            ("sluttdato", V::Date(2025, 3, 31)),
            ("samlinger", V::I(5)),
            ("timer", V::D("12.5")),
            ("deltakere_pasient", V::I(8)),
            ("deltakere_parorende", V::I(4)),
            ("fullfort", V::I(11)),
            ("avlyst", V::B(false)),
        ],
        ExtractKind::Coding => vec![
            ("rhf", V::S(rhf.code())),
            ("hf", V::S(hf)),
            ("kontakt_id", V::S("C-1")),
            ("fodselsnummer", V::S(FNR)),
            ("bostedskommune", V::S("0301")),
            ("bydel", V::S("030101")),
            ("kontaktdato", V::Date(2025, 3, 14)),
            ("omsorgsniva", V::S("poliklinikk")),
            ("tjenesteomrade", V::S("somatikk")),
            ("hovedtilstand", V::S("E11.9")),
            ("kontakttype", V::I(13)),
            ("prosedyrekoder", V::S("WPCK00|ZWWA30")),
            ("saerkoder", V::S("A0099")),
            ("gruppe", V::B(true)),
            ("tolk", V::B(false)),
        ],
        ExtractKind::Evaluation => vec![
            ("rhf", V::S(rhf.code())),
            ("hf", V::S(hf)),
            ("kurs_id", V::S("K-1")),
            ("svar_id", V::S("S-1")),
            ("deltaker", V::S("P1")),
            ("rolle", V::S("pasient")),
            ("maletidspunkt", V::S("etter")),
            ("dato", V::Date(2025, 3, 31)),
            ("pam_score", V::D("56.4")),
            ("pam_niva", V::I(3)),
            ("tilfredshet", V::I(5)),
            ("nytte", V::I(4)),
            ("anbefale", V::B(true)),
        ],
    }
}

fn csv_text(rhf: Rhf, v: &V) -> String {
    let norwegian = matches!(rhf, Rhf::Hv | Rhf::Hn);
    match v {
        V::Null => String::new(),
        V::S(s) | V::Raw(s) => s.to_string(),
        V::Owned(s) => s.clone(),
        V::I(i) => i.to_string(),
        V::D(d) if norwegian => d.replace('.', ","),
        V::D(d) => d.to_string(),
        V::Date(y, m, d) if norwegian => format!("{d:02}.{m:02}.{y:04}"),
        V::Date(y, m, d) => format!("{y:04}-{m:02}-{d:02}"),
        V::B(b) => match (rhf, b) {
            (Rhf::Hso, true) => "true",
            (Rhf::Hso, false) => "false",
            (Rhf::Hv, true) => "ja",
            (Rhf::Hv, false) => "nei",
            (_, true) => "1",
            (_, false) => "0",
        }
        .to_string(),
    }
}

fn quote(field: &str, delimiter: char) -> String {
    if field.contains([delimiter, '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.into()
    }
}

/// One physical record per row; `None` rows are written as a malformed record (too few fields, or
/// a JSON line that is no object).
pub fn render(rhf: Rhf, rows: &[Option<Row>], header: &[&str]) -> Vec<u8> {
    match rhf {
        Rhf::Hmn => {
            let mut out = String::new();
            for row in rows {
                let Some(row) = row else {
                    out.push_str("[1, 2, 3]\n");
                    continue;
                };
                let mut obj = serde_json::Map::new();
                for (c, v) in row {
                    let j = match v {
                        V::Null => continue, // a missing key is a null
                        V::S(s) | V::Raw(s) => serde_json::json!(s),
                        V::Owned(s) => serde_json::json!(s),
                        V::I(i) => serde_json::json!(i),
                        V::D(d) => serde_json::from_str(d).unwrap(),
                        V::Date(y, m, d) => serde_json::json!(format!("{y:04}-{m:02}-{d:02}")),
                        V::B(b) => serde_json::json!(b),
                    };
                    obj.insert(c.to_string(), j);
                }
                out.push_str(&serde_json::Value::Object(obj).to_string());
                out.push('\n');
            }
            out.into_bytes()
        }
        _ => {
            let (delimiter, eol) = if rhf == Rhf::Hso { (',', "\n") } else { (';', "\r\n") };
            let mut out = header.join(&delimiter.to_string()) + eol;
            for row in rows {
                let fields: Vec<String> = match row {
                    Some(row) => header
                        .iter()
                        .map(|h| {
                            let v = row.iter().find(|(c, _)| c == h).map(|(_, v)| v.clone()).unwrap_or(V::Null);
                            quote(&csv_text(rhf, &v), delimiter)
                        })
                        .collect(),
                    None => vec!["x".into(), "y".into()],
                };
                out += &fields.join(&delimiter.to_string());
                out += eol;
            }
            match rhf {
                Rhf::Hv => encoding_rs::WINDOWS_1252.encode(&out).0.into_owned(),
                Rhf::Hn => [b"\xEF\xBB\xBF".as_slice(), out.as_bytes()].concat(),
                _ => out.into_bytes(),
            }
        }
    }
}

pub fn header(kind: ExtractKind) -> Vec<&'static str> {
    kind.columns().iter().map(|c| c.name).collect()
}

pub fn file_name(rhf: Rhf, kind: ExtractKind) -> String {
    let ext = if rhf == Rhf::Hmn { "jsonl" } else { "csv" };
    format!("{rhf}_{kind}_2025-03.{ext}")
}

/// The embedded reference data, parsed once for all tests.
pub fn reference() -> &'static Reference {
    static REFERENCE: std::sync::OnceLock<Reference> = std::sync::OnceLock::new();
    REFERENCE.get_or_init(|| Reference::embedded().unwrap())
}

/// What checking a file gives: the summary and every violation, or the file's rejection.
pub fn check_named(
    name: &str,
    rhf: Rhf,
    kind: ExtractKind,
    bytes: &[u8],
) -> Result<(FileSummary, Vec<Violation>), FileRejection> {
    let reference = reference();
    let open = || Ok(Cursor::new(bytes.to_vec()));
    let seen = |row: &CheckedRow<'_>| (row.line, format!("{:?}", row.values), row.violations.clone());
    let mut rows = Vec::new();
    let two_passes = check_delivery(name, kind, rhf, reference, open, |row| rows.push(seen(row)));
    // The single pass the ETL uses hands on the same rows after its last restart, and ends alike.
    let mut after_restart = Vec::new();
    let one_pass = check_delivery_in_one_pass(name, kind, rhf, reference, open, |event| match event {
        RowEvent::Row(row) => after_restart.push(seen(row)),
        RowEvent::Restart => after_restart.clear(),
    });
    match (&two_passes, &one_pass) {
        (Ok((_, a)), Ok((_, b))) => {
            assert_eq!(a, b, "summaries of one and two passes");
            assert_eq!(rows, after_restart, "rows of one and two passes");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "rejections of one and two passes"),
        (a, b) => panic!("two passes gave {a:?}, one pass {b:?}"),
    }
    let (_, summary) = two_passes?;
    assert_eq!(summary.rows_read, summary.rows_loaded + summary.rows_rejected, "every row accounted for");
    Ok((summary, rows.into_iter().flat_map(|(_, _, v)| v).collect()))
}

pub fn check(rhf: Rhf, kind: ExtractKind, bytes: &[u8]) -> Result<(FileSummary, Vec<Violation>), FileRejection> {
    check_named(&file_name(rhf, kind), rhf, kind, bytes)
}
