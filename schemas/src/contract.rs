//! The three extracts, declared once. This table drives the row checks (`check`), the lake's Arrow
//! schema (`lake_schema`) and the contract docs (`markdown`, kept in `docs/contracts.md`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};

/// One of the three monthly extracts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExtractKind {
    /// One row per course run.
    Activity,
    /// One row per outpatient or day contact in the LMS diagnosis groups.
    Coding,
    /// One row per questionnaire response.
    Evaluation,
}

/// The type and rule of a column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColumnType {
    /// HSO, HV, HMN or HN, and the delivering region.
    Rhf,
    /// A health trust of the delivering region.
    Hf,
    /// The extract's id: text of 1–64 characters, unique within (rhf, hf) in one delivery.
    Id,
    /// Free text of at most `max` characters.
    Text { max: usize },
    /// A code from a fixed list.
    Code(&'static [&'static str]),
    /// `1`/`0`, `true`/`false` or `ja`/`nei` (JSON: also true/false).
    Bool,
    /// A 4-digit kommunenummer in the reference list; `unknown_allowed` admits `9999`.
    Kommune { unknown_allowed: bool },
    /// A 6-digit Oslo city district in the reference list, only with `bostedskommune` 0301.
    Bydel,
    /// A date in the dialect's format; `in_period`: within the delivery's month.
    Date { in_period: bool },
    /// A whole number within `min..=max`.
    Int { min: i64, max: i64 },
    /// A decimal number with at most `scale` decimals, stored as an integer of 10^-scale units,
    /// within `min..=max` (in those units); `min_exclusive` makes the lower bound strict.
    Decimal { scale: u32, min: i64, max: i64, min_exclusive: bool },
    /// A national identity number; never stored.
    Fodselsnummer,
    /// An ICD-10 code mapping to an LMS diagnosis group.
    Icd10,
    /// Codes separated by `|` (JSON: also an array of strings), each matching `item`.
    CodeList { item: ListItem },
}

/// What each item of a code list looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListItem {
    /// NCMP/NCSP procedure codes: 5–7 letters and digits.
    Procedure,
    /// ISF special codes: 1–10 letters and digits.
    SpecialCode,
}

/// A column of an extract.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    /// A required column must be in a CSV header and have a value in every row.
    pub required: bool,
    pub doc: &'static str,
}

const fn col(name: &'static str, ty: ColumnType, required: bool, doc: &'static str) -> Column {
    Column { name, ty, required, doc }
}

pub const DIAGNOSEGRUPPE: &[&str] = &[
    "diabetes",
    "hjerte_kar",
    "lunge",
    "kreft",
    "psykisk_helse",
    "rus",
    "nevrologi",
    "muskel_skjelett",
    "sjeldne",
    "overvekt",
    "smerte",
    "barn_familie",
    "annet",
];
pub const MALGRUPPE: &[&str] = &["pasient", "parorende", "begge"];
pub const PRIORITERT_GRUPPE: &[&str] = &["barn_unge", "psykisk_rus", "skropelige_eldre", "flere_kroniske", "ingen"];
pub const FORMAT: &[&str] = &["fysisk", "digital", "hybrid"];
pub const SPRAK: &[&str] = &["nb", "nn", "se", "smj", "sma", "en", "annet"];
pub const OMSORGSNIVA: &[&str] = &["poliklinikk", "dag"];
pub const TJENESTEOMRADE: &[&str] = &["somatikk", "psykisk_helse", "rus"];
pub const ROLLE: &[&str] = &["pasient", "parorende"];
pub const MALETIDSPUNKT: &[&str] = &["for", "etter", "oppfolging"];

const COUNT: ColumnType = ColumnType::Int { min: 0, max: i32::MAX as i64 };

const ACTIVITY: &[Column] = &[
    col("rhf", ColumnType::Rhf, true, "delivering region"),
    col("hf", ColumnType::Hf, true, "health trust of that region (reference list `health_trusts`)"),
    col("kurs_id", ColumnType::Id, true, "course run id, unique within (rhf, hf) in one delivery"),
    col("tittel", ColumnType::Text { max: 200 }, true, "course title"),
    col("diagnosegruppe", ColumnType::Code(DIAGNOSEGRUPPE), true, "diagnosis group"),
    col("malgruppe", ColumnType::Code(MALGRUPPE), true, "target group"),
    col("prioritert_gruppe", ColumnType::Code(PRIORITERT_GRUPPE), true, "priority group"),
    col("format", ColumnType::Code(FORMAT), true, "physical, digital or hybrid"),
    col("sprak", ColumnType::Code(SPRAK), true, "language (se, smj, sma: North, Lule, South Sami)"),
    col("tolk_tilbudt", ColumnType::Bool, true, "interpreter offered"),
    col(
        "samarbeid_kommune",
        ColumnType::Kommune { unknown_allowed: false },
        false,
        "municipality the course was planned or held with",
    ),
    col("bruker_planlegging", ColumnType::Bool, true, "user representative took part in planning"),
    col("bruker_gjennomforing", ColumnType::Bool, true, "… in delivery"),
    col("bruker_evaluering", ColumnType::Bool, true, "… in evaluation"),
    col("startdato", ColumnType::Date { in_period: true }, true, "first day, within the delivery's period"),
    col("sluttdato", ColumnType::Date { in_period: false }, true, "last day, ≥ startdato, ≤ startdato + 366 days"),
    col("samlinger", ColumnType::Int { min: 1, max: 100 }, true, "sessions"),
    col(
        "timer",
        ColumnType::Decimal { scale: 2, min: 0, max: 50_000, min_exclusive: true },
        true,
        "hours in all, > 0 and ≤ 500",
    ),
    col("deltakere_pasient", COUNT, true, "patient participants"),
    col("deltakere_parorende", COUNT, true, "relative participants"),
    col("fullfort", COUNT, true, "completed, ≤ deltakere_pasient + deltakere_parorende"),
    col("avlyst", ColumnType::Bool, true, "cancelled; a cancelled run has 0 participants"),
];

const CODING: &[Column] = &[
    col("rhf", ColumnType::Rhf, true, "delivering region"),
    col("hf", ColumnType::Hf, true, "health trust of that region"),
    col("kontakt_id", ColumnType::Id, true, "contact id, unique within (rhf, hf, period)"),
    col(
        "fodselsnummer",
        ColumnType::Fodselsnummer,
        true,
        "identity number; replaced by a keyed pseudonym, never stored",
    ),
    col("bostedskommune", ColumnType::Kommune { unknown_allowed: true }, true, "home municipality, or 9999 unknown"),
    col("bydel", ColumnType::Bydel, false, "Oslo city district, only with bostedskommune 0301"),
    col("kontaktdato", ColumnType::Date { in_period: true }, true, "contact date, within the delivery's period"),
    col("omsorgsniva", ColumnType::Code(OMSORGSNIVA), true, "outpatient or day"),
    col("tjenesteomrade", ColumnType::Code(TJENESTEOMRADE), true, "service area"),
    col("hovedtilstand", ColumnType::Icd10, true, "main condition, ICD-10, in an LMS diagnosis group"),
    col("kontakttype", ColumnType::Int { min: 1, max: 99 }, true, "NPR contact type; 13 = education"),
    col(
        "prosedyrekoder",
        ColumnType::CodeList { item: ListItem::Procedure },
        false,
        "procedure codes: WPCK00 learning and coping, ZWWA30 group, ZWWA40 relatives",
    ),
    col(
        "saerkoder",
        ColumnType::CodeList { item: ListItem::SpecialCode },
        false,
        "ISF special codes: A0099 group-based patient education",
    ),
    col("gruppe", ColumnType::Bool, true, "group-based contact"),
    col("tolk", ColumnType::Bool, true, "interpreter used"),
];

const EVALUATION: &[Column] = &[
    col("rhf", ColumnType::Rhf, true, "delivering region"),
    col("hf", ColumnType::Hf, true, "health trust of that region"),
    col("kurs_id", ColumnType::Text { max: 64 }, true, "the course run evaluated (dangling ids are kept and counted)"),
    col("svar_id", ColumnType::Id, true, "response id, unique within (rhf, hf, period)"),
    col("deltaker", ColumnType::Text { max: 64 }, false, "respondent pseudonym from the evaluation tool"),
    col("rolle", ColumnType::Code(ROLLE), true, "patient or relative"),
    col("maletidspunkt", ColumnType::Code(MALETIDSPUNKT), true, "before, at the end, follow-up"),
    col("dato", ColumnType::Date { in_period: true }, true, "response date, within the delivery's period"),
    col(
        "pam_score",
        ColumnType::Decimal { scale: 2, min: 0, max: 10_000, min_exclusive: false },
        false,
        "PAM-13 activation score, 0.0–100.0",
    ),
    col("pam_niva", ColumnType::Int { min: 1, max: 4 }, false, "PAM level 1–4, agrees with pam_score"),
    col("tilfredshet", ColumnType::Int { min: 1, max: 5 }, false, "overall satisfaction 1–5"),
    col("nytte", ColumnType::Int { min: 1, max: 5 }, false, "usefulness 1–5"),
    col("anbefale", ColumnType::Bool, false, "would recommend the course"),
];

/// The PAM level of a score in hundredths of a point (indicators.md: ≤ 47.0, ≤ 55.1, ≤ 72.4, above).
pub fn pam_level(score_hundredths: i64) -> i64 {
    match score_hundredths {
        i64::MIN..=4700 => 1,
        4701..=5510 => 2,
        5511..=7240 => 3,
        _ => 4,
    }
}

impl ExtractKind {
    pub const ALL: [ExtractKind; 3] = [ExtractKind::Activity, ExtractKind::Coding, ExtractKind::Evaluation];

    /// The name used in file names, tables and paths.
    pub fn name(self) -> &'static str {
        match self {
            ExtractKind::Activity => "activity",
            ExtractKind::Coding => "coding",
            ExtractKind::Evaluation => "evaluation",
        }
    }

    /// The declared columns, in contract order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            ExtractKind::Activity => ACTIVITY,
            ExtractKind::Coding => CODING,
            ExtractKind::Evaluation => EVALUATION,
        }
    }

    /// The index of a column by name.
    pub fn column_index(self, name: &str) -> Option<usize> {
        self.columns().iter().position(|c| c.name == name)
    }

    /// The column that must be unique within (rhf, hf) in a delivery.
    pub fn id_column(self) -> &'static str {
        match self {
            ExtractKind::Activity => "kurs_id",
            ExtractKind::Coding => "kontakt_id",
            ExtractKind::Evaluation => "svar_id",
        }
    }

    /// The columns that stand in the lake for the identity number: a keyed pseudonym and the least
    /// of what the number says that the indicators need (birth year, sex, age at the contact; not
    /// the birth date, docs/decisions.md). Only the coding extract has one. `fodselsar` is nullable:
    /// files loaded before it held the birth date instead.
    pub fn derived_identity_fields() -> [Field; 4] {
        [
            Field::new("person", DataType::Utf8, false),
            Field::new("fodselsar", DataType::Int32, true),
            Field::new("kjonn", DataType::Utf8, false),
            Field::new("alder", DataType::Int32, false),
        ]
    }

    /// The Arrow schema of this extract in the lake: the contract's columns in order, the identity
    /// number replaced by its derived fields, then lineage (`period`, `delivery`, `line`).
    pub fn lake_schema(self) -> Arc<Schema> {
        let mut fields = Vec::new();
        for c in self.columns() {
            let nullable = !c.required;
            match c.ty {
                ColumnType::Fodselsnummer => fields.extend(Self::derived_identity_fields()),
                ColumnType::Bool => fields.push(Field::new(c.name, DataType::Boolean, nullable)),
                ColumnType::Date { .. } => fields.push(Field::new(c.name, DataType::Date32, nullable)),
                ColumnType::Int { .. } => fields.push(Field::new(c.name, DataType::Int32, nullable)),
                ColumnType::Decimal { scale, .. } => {
                    fields.push(Field::new(c.name, DataType::Decimal128(5 + scale as u8, scale as i8), nullable))
                }
                ColumnType::CodeList { .. } => fields.push(Field::new(
                    c.name,
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))),
                    nullable,
                )),
                // The code as delivered, and beside it the municipality of 2024 it counts in.
                ColumnType::Kommune { .. } => {
                    fields.push(Field::new(c.name, DataType::Utf8, nullable));
                    fields.push(Field::new(format!("{}_2024", c.name), DataType::Utf8, nullable));
                }
                ColumnType::Rhf
                | ColumnType::Hf
                | ColumnType::Id
                | ColumnType::Text { .. }
                | ColumnType::Code(_)
                | ColumnType::Bydel
                | ColumnType::Icd10 => fields.push(Field::new(c.name, DataType::Utf8, nullable)),
            }
        }
        fields.push(Field::new("period", DataType::Utf8, false));
        fields.push(Field::new("delivery", DataType::Utf8, false));
        fields.push(Field::new("line", DataType::Int64, false));
        Arc::new(Schema::new(fields))
    }
}

impl fmt::Display for ExtractKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ExtractKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExtractKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown extract `{s}` (expected activity, coding or evaluation)"))
    }
}

impl ColumnType {
    /// What a value of this type looks like, for docs and error messages.
    pub fn describe(&self) -> String {
        match self {
            ColumnType::Rhf => "code: HSO, HV, HMN or HN, the delivering region".into(),
            ColumnType::Hf => "code: a health trust of the region".into(),
            ColumnType::Id => "text, 1–64 characters, unique within (rhf, hf) in the delivery".into(),
            ColumnType::Text { max } => format!("text, at most {max} characters"),
            ColumnType::Code(list) => format!("code: {}", list.join(", ")),
            ColumnType::Bool => "bool: 1/0, true/false or ja/nei".into(),
            ColumnType::Kommune { unknown_allowed: true } => {
                "4-digit kommunenummer valid on the row's date (code history), or 9999".into()
            }
            ColumnType::Kommune { unknown_allowed: false } => {
                "4-digit kommunenummer valid on the row's date (code history)".into()
            }
            ColumnType::Bydel => "6-digit Oslo city district in the reference list".into(),
            ColumnType::Date { in_period: true } => "date, within the delivery's period".into(),
            ColumnType::Date { in_period: false } => "date".into(),
            ColumnType::Int { min, max } if *max == i32::MAX as i64 => format!("integer ≥ {min}"),
            ColumnType::Int { min, max } => format!("integer {min}–{max}"),
            ColumnType::Decimal { scale, min, max, min_exclusive } => {
                let unit = 10f64.powi(*scale as i32);
                let lower = if *min_exclusive { ">" } else { "≥" };
                format!(
                    "decimal, at most {scale} decimals, {lower} {} and ≤ {}",
                    *min as f64 / unit,
                    *max as f64 / unit
                )
            }
            ColumnType::Fodselsnummer => "11 digits: fødselsnummer, D-, H- or synthetic test number".into(),
            ColumnType::Icd10 => "ICD-10 code (E11, E11.9, F32.1) in an LMS diagnosis group".into(),
            ColumnType::CodeList { item: ListItem::Procedure } => {
                "codes separated by |, each 5–7 letters and digits".into()
            }
            ColumnType::CodeList { item: ListItem::SpecialCode } => {
                "codes separated by |, each 1–10 letters and digits".into()
            }
        }
    }
}

/// The contract as Markdown, generated from the declarations above (kept in `docs/contracts.md`).
pub fn markdown() -> String {
    use crate::dialect::{FileFormat, Rhf};
    use crate::rule::Rule;
    let mut s = String::from(
        "# Extract contracts\n\nGenerated from `schemas/src/contract.rs` by `cargo test -p lms-schemas` \
         (set `UPDATE_DOCS=1` to rewrite this file). The same declarations drive the row checks and the \
         lake's Arrow schema.\n\n## Dialects\n\n| rhf | format | delimiter | encoding | dates | decimal mark | line ends |\n|---|---|---|---|---|---|---|\n",
    );
    for r in Rhf::ALL {
        let d = r.dialect();
        let (format, delim) = match d.format {
            FileFormat::Csv { delimiter } => ("CSV with header", format!("`{}`", delimiter as char)),
            FileFormat::JsonLines => ("JSON Lines", "–".into()),
        };
        s += &format!(
            "| {r} | {format} | {delim} | {:?} | {} | `{}` | {:?} |\n",
            d.encoding,
            d.dates.pattern(),
            d.decimal_mark,
            d.line_end
        );
    }
    for kind in ExtractKind::ALL {
        s += &format!("\n## `{kind}`\n\n| column | required | type and rule | meaning |\n|---|---|---|---|\n");
        for c in kind.columns() {
            s += &format!(
                "| {} | {} | {} | {} |\n",
                c.name,
                if c.required { "yes" } else { "no" },
                c.ty.describe(),
                c.doc
            );
        }
        s += "\nIn the lake: ";
        let fields: Vec<String> =
            kind.lake_schema().fields().iter().map(|f| format!("`{}` {}", f.name(), f.data_type())).collect();
        s += &fields.join(", ");
        s += "\n";
    }
    s += "\n## Rules\n\n| rule | rejects | asks that |\n|---|---|---|\n";
    for r in Rule::ALL {
        s += &format!("| `{r}` | {} | {} |\n", if r.rejects_file() { "file" } else { "row" }, r.describe());
    }
    s
}

/// The quarantine table's schema: one row per broken rule (a row breaking two rules has two), and
/// one per file rejected whole (no line). Identity numbers appear only as `<masked>`; `person` is
/// the pseudonym where the row's identity number was valid.
pub fn quarantine_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("delivery", DataType::Utf8, false),
        Field::new("rhf", DataType::Utf8, true),
        Field::new("extract", DataType::Utf8, true),
        Field::new("period", DataType::Utf8, true),
        Field::new("line", DataType::Int64, true),
        Field::new("column", DataType::Utf8, true),
        Field::new("rule", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        Field::new("expected", DataType::Utf8, false),
        Field::new("person", DataType::Utf8, true),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_schema_drops_the_identity_number() {
        let s = ExtractKind::Coding.lake_schema();
        assert!(s.field_with_name("fodselsnummer").is_err());
        for f in ["person", "fodselsar", "kjonn", "alder", "bostedskommune_2024", "period", "delivery", "line"] {
            assert!(s.field_with_name(f).is_ok(), "{f}");
        }
        assert_eq!(
            s.fields().len(),
            ExtractKind::Coding.columns().len() - 1 + 4 + 1 + 3,
            "every contract column but the identity number, plus derived (identity, 2024 code) and lineage fields"
        );
    }

    #[test]
    fn pam_levels_at_cut_points() {
        assert_eq!(pam_level(0), 1);
        assert_eq!(pam_level(4700), 1);
        assert_eq!(pam_level(4701), 2);
        assert_eq!(pam_level(5510), 2);
        assert_eq!(pam_level(5511), 3);
        assert_eq!(pam_level(7240), 3);
        assert_eq!(pam_level(7241), 4);
        assert_eq!(pam_level(10_000), 4);
    }

    /// docs/contracts.md is the generated text; UPDATE_DOCS=1 rewrites it.
    #[test]
    fn contract_docs_are_current() {
        let path = std::path::Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
            .join("../docs/contracts.md");
        let generated = markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(current == generated, "docs/contracts.md is stale: run `UPDATE_DOCS=1 cargo test -p lms-schemas`");
    }
}
