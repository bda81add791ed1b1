//! The indicator catalogue: one `.sql` file per indicator in `queries/indicators/`, each opening with
//! a header of `-- key: value` lines (id, titles, unit, view, extract, method, levels, breakdowns,
//! definition) followed by the query.
//!
//! A query returns cells: `year, rhf, hf, breakdown, numerator, denominator, value, ci_low, ci_high`,
//! where the level follows from which of rhf and hf are null. A `method: standardised` query returns
//! strata instead (`year, rhf, hf, breakdown, sex, age_group, d, n, w`) and the one standardisation
//! query (`sql/standardise.sql`) turns them into cells.

use std::fmt;

use lms_schemas::ExtractKind;

mod files {
    include!(concat!(env!("OUT_DIR"), "/indicator_files.rs"));
}

/// What a value is; disclosure control treats shares differently (their complement is a group too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Count,
    Share,
    Rate,
    Mean,
}

/// Which unit a row counts for (indicators.md, conventions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// The HF that delivered the row, and its region.
    Provider,
    /// The catchment area of the patient's home.
    Residence,
}

/// How a query's rows become cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The query returns cells.
    Cells,
    /// The query returns strata for direct standardisation.
    Standardised,
}

/// A level of the published cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    National,
    Rhf,
    Hf,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::National, Level::Rhf, Level::Hf];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::National => "national",
            Level::Rhf => "rhf",
            Level::Hf => "hf",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One indicator of the catalogue.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Indicator {
    pub id: String,
    pub title_nb: String,
    pub title_en: String,
    pub unit: Unit,
    pub view: View,
    #[serde(serialize_with = "extract_name")]
    pub extract: ExtractKind,
    pub method: Method,
    pub levels: Vec<Level>,
    /// Breakdown names (`format`, `sex`, …); cells are written `name=value`.
    pub breakdowns: Vec<String>,
    pub definition: String,
    #[serde(skip)]
    pub file: String,
    /// The query (the file after its header).
    #[serde(skip)]
    pub sql: String,
}

fn extract_name<S: serde::Serializer>(k: &ExtractKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.name())
}

#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct CatalogueError {
    pub file: String,
    pub message: String,
}

impl Indicator {
    /// Parses one indicator file.
    pub fn parse(file: &str, text: &str) -> Result<Indicator, CatalogueError> {
        let err = |message: String| CatalogueError { file: file.to_string(), message };
        let mut header = std::collections::BTreeMap::new();
        let mut body = Vec::new();
        let mut in_header = true;
        for (i, line) in text.lines().enumerate() {
            if in_header && let Some(rest) = line.strip_prefix("--") {
                let Some((k, v)) = rest.split_once(':') else {
                    return Err(err(format!("line {}: expected `-- key: value` in the header", i + 1)));
                };
                if header.insert(k.trim().to_string(), v.trim().to_string()).is_some() {
                    return Err(err(format!("line {}: `{}` given twice", i + 1, k.trim())));
                }
                continue;
            }
            in_header = false;
            body.push(line);
        }
        let get = |k: &str| header.get(k).cloned().ok_or_else(|| err(format!("header lacks `{k}`")));
        let list = |k: &str| -> Result<Vec<String>, CatalogueError> {
            Ok(get(k)?.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        };
        let id = get("id")?;
        if format!("{id}.sql") != file {
            return Err(err(format!("id `{id}` does not match the file name")));
        }
        let unit = match get("unit")?.as_str() {
            "count" => Unit::Count,
            "share" => Unit::Share,
            "rate" => Unit::Rate,
            "mean" => Unit::Mean,
            u => return Err(err(format!("unit `{u}`: expected count, share, rate or mean"))),
        };
        let view = match get("view")?.as_str() {
            "provider" => View::Provider,
            "residence" => View::Residence,
            v => return Err(err(format!("view `{v}`: expected provider or residence"))),
        };
        let method = match header.get("method").map(String::as_str).unwrap_or("cells") {
            "cells" => Method::Cells,
            "standardised" => Method::Standardised,
            m => return Err(err(format!("method `{m}`: expected cells or standardised"))),
        };
        let extract = get("extract")?.parse::<ExtractKind>().map_err(err)?;
        let levels = list("levels")?
            .iter()
            .map(|l| Level::parse(l).ok_or_else(|| err(format!("level `{l}`: expected national, rhf or hf"))))
            .collect::<Result<Vec<_>, _>>()?;
        let sql = body.join("\n").trim().to_string();
        if sql.is_empty() {
            return Err(err("no query after the header".into()));
        }
        Ok(Indicator {
            id,
            title_nb: get("title_nb")?,
            title_en: get("title_en")?,
            unit,
            view,
            extract,
            method,
            levels,
            breakdowns: list("breakdowns")?,
            definition: get("definition")?,
            file: file.to_string(),
            sql,
        })
    }
}

/// Every indicator, in file-name order.
pub fn catalogue() -> Result<Vec<Indicator>, CatalogueError> {
    files::FILES.iter().map(|(name, text)| Indicator::parse(name, text)).collect()
}

/// The catalogue, parsed once; the files are compiled in, so a broken header fails the crate's tests.
pub fn embedded() -> &'static [Indicator] {
    static CATALOGUE: std::sync::OnceLock<Vec<Indicator>> = std::sync::OnceLock::new();
    CATALOGUE.get_or_init(|| catalogue().expect("the embedded indicator files parse (see the crate's tests)"))
}

/// The catalogue as a Markdown document (`docs/indicators.md`).
pub fn markdown(catalogue: &[Indicator]) -> String {
    let mut out = String::from(
        "# Indicator catalogue\n\n\
         Generated from the headers of `queries/indicators/*.sql` (`UPDATE_DOCS=1 cargo test -p lms-queries`\n\
         rewrites it; a test fails when it is stale). The definitions are those of indicators.md; the SQL\n\
         files are what runs. Every indicator is published per year in `indicator_values` with disclosure\n\
         control applied.\n\n\
         Municipalities are counted on 2024 borders: a delivered code is mapped to its 2024 successor\n\
         through the code history (`schemas/reference/kommune_history.csv`), and the one code of\n\
         2020–2023 that split (1507 Ålesund, into 1508 Ålesund and 1580 Haram) is allocated person by\n\
         person by the successors' population shares of the year; `data_quality.residence_mapped_by_share`\n\
         counts the rows so placed (`docs/decisions.md`, \"Municipality codes over time\").\n",
    );
    for extract in ExtractKind::ALL {
        out += &format!("\n## Extract `{}`\n\n", extract.name());
        out += "| id | title | unit | view | levels | breakdowns | definition |\n|---|---|---|---|---|---|---|\n";
        for i in catalogue.iter().filter(|i| i.extract == extract) {
            let levels: Vec<&str> = i.levels.iter().map(|l| l.as_str()).collect();
            let unit = match i.unit {
                Unit::Count => "count",
                Unit::Share => "share",
                Unit::Rate => "rate",
                Unit::Mean => "mean",
            };
            let view = match i.view {
                View::Provider => "provider",
                View::Residence => "residence",
            };
            out += &format!(
                "| `{}` | {} / {} | {unit}{} | {view} | {} | {} | {} |\n",
                i.id,
                i.title_nb,
                i.title_en,
                if i.method == Method::Standardised { ", standardised" } else { "" },
                levels.join(", "),
                i.breakdowns.join(", "),
                i.definition.replace('|', "\\|"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This crate's directory, read at run time (see `embedded_files_are_the_checkouts`).
    fn manifest_dir() -> std::path::PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo").into()
    }

    /// docs/indicators.md is generated from the headers; UPDATE_DOCS=1 rewrites it.
    #[test]
    fn catalogue_docs_are_current() {
        let path = manifest_dir().join("../docs/indicators.md");
        let text = markdown(&catalogue().unwrap());
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(current == text, "docs/indicators.md is stale: run UPDATE_DOCS=1 cargo test -p lms-queries");
    }

    /// Each file's cells have exactly the levels and breakdown names its header declares.
    #[test]
    fn headers_declare_levels_and_breakdowns() {
        for i in catalogue().unwrap() {
            assert!(!i.levels.is_empty(), "{}", i.id);
            for b in &i.breakdowns {
                assert!(i.sql.contains(&format!("'{b}=")), "{}: breakdown {b} is not written `{b}=value`", i.id);
            }
        }
    }

    /// The embedded files are this checkout's (a build script run for another checkout sharing the
    /// target directory would leave its paths behind).
    #[test]
    fn embedded_files_are_the_checkouts() {
        let dir = manifest_dir().join("indicators");
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
            .collect();
        on_disk.sort();
        let embedded: Vec<(String, String)> =
            super::files::FILES.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        assert!(embedded == on_disk, "the embedded indicator files differ from {}", dir.display());
    }

    #[test]
    fn every_file_parses() {
        let c = catalogue().unwrap();
        assert_eq!(c.len(), super::files::FILES.len());
        assert!(c.iter().any(|i| i.id == "education_contacts_rate" && i.method == Method::Standardised));
    }

    #[test]
    fn header_errors_name_the_problem() {
        let e = Indicator::parse("x.sql", "-- id: y\nSELECT 1").unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
        let e = Indicator::parse("x.sql", "-- id: x\n-- unit: litres\nSELECT 1").unwrap_err();
        assert!(e.to_string().contains("header lacks") || e.to_string().contains("litres"), "{e}");
    }
}
