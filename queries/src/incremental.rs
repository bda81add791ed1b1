//! Incremental publishing: a build that computes only the years whose data changed.
//!
//! Invariants this rests on (each checked where it can be, and by the test that compares an
//! incremental build with a full one after each kind of change):
//! - A coded contact's, a course run's and a response's date lie in their delivery's period
//!   (contract rule `period`), so a data file holds rows of its period's year only.
//! - A *year-local* indicator — one that reads the coding table (through the prelude's views) and
//!   nothing derived from evaluations — computes its cells of a year from that year's coding and
//!   activity rows and the reference data alone: contacts are grouped by their year, persons per
//!   person and year, and the standardisation weights are per year.
//! - An indicator *of evaluations* (reading evaluations and not the coding table) computes its
//!   cells of a year from the final responses dated in that year (the latest-response rule per
//!   respondent and time of measurement; a PAM pair in the year of its `etter`), the units with a
//!   response that year and that year's course runs. A respondent's responses may lie in several
//!   years, so the cells of a year need every response of each respondent who answered in it.
//! - Disclosure control's groups never span two (indicator, year) pairs (`suppress.rs`), and
//!   `variation` is per (indicator, year): the suppression and the variation of a year are those a
//!   full build gives, whatever the other years hold.
//! - A data file is written once under a fresh name and never changed: the same paths are the same
//!   rows. The *basis* of a publication ([`Basis`]) is, per year, a digest of the paths of that
//!   year's coding and activity files, and the paths of the evaluation files; it is kept in the
//!   key-value metadata of the publication's `data_quality` file (not in the figures' files, whose
//!   bytes stay those of a full build).
//!
//! A build that may reuse (its caller has checked that the publication in the snapshot was built by
//! the same definitions):
//! - computes the year-local indicators for the years whose coding or activity files changed,
//!   reading the coding table of those years only;
//! - where evaluation files were only added (none removed), computes the indicators of evaluations
//!   for those years and for every year in which a respondent of the added responses answered,
//!   reading every response of each respondent who answered in them (a removed file's respondents
//!   are no longer known: then they are computed whole);
//! - takes the other years' cells, `variation` rows and coding periods' residence counts from the
//!   publication it replaces. Indicators of course activity alone (small) and `data_quality`'s
//!   dangling responses are computed whole.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, UInt64Type};
use datafusion::prelude::SessionContext;
use lms_lake::{Lake, Snapshot};

use crate::catalogue::{Indicator, Unit};
use crate::error::QueryError;
use crate::suppress::Cell;

/// The key of the basis in the key-value metadata of a publication's `data_quality` file.
pub const BASIS_KEY: &str = "lms.publish.basis";

/// The tables whose files a year-local indicator's cells of a year are built from.
const YEAR_LOCAL_INPUTS: [&str; 2] = ["coding", "activity"];

/// What a publication was built from, as far as an incremental build needs to know.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Basis {
    /// Per year, a digest of the paths of the coding and activity files of that year (hex SHA-256
    /// of the length-prefixed paths in order).
    pub years: BTreeMap<i32, String>,
    /// The paths of the evaluation files: a build that finds only additions rebuilds the years
    /// their respondents answered in.
    pub evaluation: BTreeSet<String>,
}

/// The year of a period `YYYY-MM`.
fn year_of(period: &str) -> Option<i32> {
    period.get(..4)?.parse().ok()
}

/// The basis of `snapshot`; `None` where a file has no period to take a year from.
pub fn basis(snapshot: &Snapshot) -> Option<Basis> {
    use sha2::Digest;
    let mut by_year: BTreeMap<i32, sha2::Sha256> = BTreeMap::new();
    let mut evaluation = BTreeSet::new();
    // `files` is keyed by path: the paths come in order.
    for f in snapshot.files.values() {
        if f.table == "evaluation" {
            evaluation.insert(f.path.clone());
        } else if YEAR_LOCAL_INPUTS.contains(&f.table.as_str()) {
            let year = year_of(f.period.as_deref()?)?;
            let h = by_year.entry(year).or_default();
            h.update((f.path.len() as u64).to_le_bytes());
            h.update(f.path.as_bytes());
        }
    }
    Some(Basis { years: by_year.into_iter().map(|(y, h)| (y, hex::encode(h.finalize()))).collect(), evaluation })
}

/// The evaluation files added since `before`, where none was removed (`None`: one was, and whose
/// responses it held is no longer known, so the evaluation indicators are built whole).
pub fn added_evaluations(before: &Basis, now: &Basis) -> Option<Vec<String>> {
    before
        .evaluation
        .is_subset(&now.evaluation)
        .then(|| now.evaluation.difference(&before.evaluation).cloned().collect())
}

/// The years whose evaluation cells a build must compute, given the evaluation files `added` (in
/// the table `evaluation_added`) and the years `also` (those whose course activity changed): the
/// years of the added responses and of every response of their respondents, wherever it lies.
/// A respondent none of whose responses is in those years answered nothing new: its final
/// responses are what they were, and so are the cells of every other year.
pub async fn evaluation_years(ctx: &SessionContext, also: &BTreeSet<i32>) -> Result<BTreeSet<i32>, QueryError> {
    let sql = "SELECT DISTINCT CAST(date_part('year', dato) AS INT) AS year FROM evaluation_added
               UNION
               SELECT DISTINCT CAST(date_part('year', e.dato) AS INT) AS year
               FROM (SELECT DISTINCT rhf, hf, kurs_id, deltaker FROM evaluation_added WHERE deltaker IS NOT NULL) r
               JOIN evaluation_all e
                 ON e.rhf = r.rhf AND e.hf = r.hf AND e.kurs_id = r.kurs_id AND e.deltaker = r.deltaker";
    let mut years = also.clone();
    for b in crate::batch::collect(ctx, sql).await? {
        let y = crate::batch::column(&b, "year", &DataType::Int32)?;
        years.extend(y.as_primitive::<datafusion::arrow::datatypes::Int32Type>().iter().flatten());
    }
    Ok(years)
}

/// The evaluation rows a build over `years` reads: every response of each respondent with a
/// response in those years, and the responses without a respondent in them.
pub fn evaluation_within(years: &BTreeSet<i32>) -> String {
    let within = year_in("CAST(date_part('year', dato) AS INT)", years);
    format!(
        "SELECT e.* FROM (SELECT DISTINCT rhf, hf, kurs_id, deltaker FROM evaluation_all
                          WHERE deltaker IS NOT NULL AND {within}) r
         JOIN evaluation_all e
           ON e.rhf = r.rhf AND e.hf = r.hf AND e.kurs_id = r.kurs_id AND e.deltaker = r.deltaker
         UNION ALL
         SELECT * FROM evaluation_all WHERE deltaker IS NULL AND {within}"
    )
}

/// The years whose coding and activity files differ between two publications (added, changed or
/// gone).
pub fn changed_years(before: &Basis, now: &Basis) -> BTreeSet<i32> {
    let (before, now) = (&before.years, &now.years);
    before.keys().chain(now.keys()).filter(|y| before.get(y) != now.get(y)).copied().collect()
}

/// The basis recorded with the publication in `snapshot`, if there is one to read.
pub async fn recorded_basis(lake: &Lake, snapshot: &Snapshot) -> Option<Basis> {
    let mut files = snapshot.table_files("data_quality");
    let (Some(file), None) = (files.next(), files.next()) else { return None };
    match lms_lake::write::key_value_metadata(lake, &file.path).await {
        Ok(kv) => serde_json::from_str(kv.get(BASIS_KEY)?).ok(),
        Err(e) => {
            tracing::warn!(file = %file.path, error = %e, "the published basis could not be read: a full build");
            None
        }
    }
}

/// `snapshot` with only the coding files of `years`: the build's coding table.
pub fn scoped(snapshot: &Snapshot, years: &BTreeSet<i32>) -> Snapshot {
    let mut s = snapshot.clone();
    s.files.retain(|_, f| {
        f.table != "coding" || f.period.as_deref().and_then(year_of).is_some_and(|y| years.contains(&y))
    });
    s
}

/// The identifiers of a query, lower case, without comments.
fn words(sql: &str) -> BTreeSet<String> {
    sql.lines()
        .map(|l| l.split("--").next().unwrap_or_default())
        .flat_map(|l| l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// `root` and every view of `prelude` that reads it, directly or through another.
fn derived_from(prelude: &str, root: &str) -> BTreeSet<String> {
    let mut derived = BTreeSet::from([root.to_string()]);
    for statement in crate::batch::statements(prelude) {
        let w = words(&statement);
        let mut tokens = statement.split_whitespace();
        let name = tokens.by_ref().skip_while(|t| !t.eq_ignore_ascii_case("VIEW")).nth(1);
        if let Some(name) = name
            && w.iter().any(|x| derived.contains(x))
        {
            derived.insert(name.to_ascii_lowercase());
        }
    }
    derived
}

/// How the indicators of a catalogue read the lake, for an incremental build.
#[derive(Debug)]
pub struct Reads {
    coding: BTreeSet<String>,
    evaluation: BTreeSet<String>,
}

impl Reads {
    pub fn of(prelude: &str) -> Reads {
        Reads { coding: derived_from(prelude, "coding"), evaluation: derived_from(prelude, "evaluation") }
    }

    fn reads_coding(&self, i: &Indicator) -> bool {
        !words(&i.sql).is_disjoint(&self.coding)
    }

    /// Reads the coding table and nothing derived from evaluations (module docs).
    pub fn year_local(&self, i: &Indicator) -> bool {
        let w = words(&i.sql);
        !w.is_disjoint(&self.coding) && w.is_disjoint(&self.evaluation)
    }

    /// Reads the evaluations and nothing derived from the coding table.
    pub fn of_evaluations(&self, i: &Indicator) -> bool {
        let w = words(&i.sql);
        !w.is_disjoint(&self.evaluation) && w.is_disjoint(&self.coding)
    }

    /// Whether every indicator that reads the coding table is year-local: else the coding table
    /// must be read whole, and the build is a full one.
    pub fn allow_scoping(&self, catalogue: &[Indicator]) -> bool {
        catalogue.iter().all(|i| !self.reads_coding(i) || self.year_local(i))
    }
}

/// A SQL predicate: `year` not among `years`.
fn year_not_in(years: &BTreeSet<i32>) -> String {
    format!("NOT ({})", year_in("year", years))
}

/// A SQL predicate: `expr` among `years`.
fn year_in(expr: &str, years: &BTreeSet<i32>) -> String {
    if years.is_empty() {
        "FALSE".into()
    } else {
        format!("{expr} IN ({})", years.iter().map(i32::to_string).collect::<Vec<_>>().join(", "))
    }
}

/// What a build takes from the publication in its snapshot.
#[derive(Debug, Default)]
pub struct Reused {
    /// Cells of the indicators computed for some years only, of the other years, with their figures
    /// before withholding (from the table `disclosure`) and nothing hidden: disclosure control
    /// runs over them again, with the cells computed.
    pub cells: Vec<Cell>,
    /// Their `variation` rows.
    pub variation: Vec<RecordBatch>,
    /// (rhf, period) → (residence_unknown, residence_mapped_by_share) of the coding periods of the
    /// years not rebuilt.
    pub residence: BTreeMap<(String, String), (u64, u64)>,
}

impl Reused {
    /// Reads from the published tables registered in `ctx` what the years outside `rebuilt` keep.
    /// `scope` gives, for each indicator whose cells are computed for some years only, those years.
    /// `pooled`: the middle years of the pooled windows computed (the windows holding a rebuilt year).
    pub async fn read(
        ctx: &SessionContext,
        catalogue: &[Indicator],
        scope: &BTreeMap<&str, &BTreeSet<i32>>,
        pooled: &BTreeSet<i32>,
        rebuilt: &BTreeSet<i32>,
    ) -> Result<Reused, QueryError> {
        let mut kept = Vec::new();
        let mut unit: BTreeMap<&str, Unit> = BTreeMap::new();
        for i in catalogue {
            if let Some(years) = scope.get(i.id.as_str()) {
                // A single year's rows (period = year) outside the years computed; a pooled
                // window's outside the windows computed.
                kept.push(format!(
                    "(indicator = '{}' AND ((length(period) = 4 AND {}) OR (length(period) > 4 AND {})))",
                    i.id,
                    year_not_in(years),
                    year_not_in(pooled)
                ));
                unit.insert(&i.id, i.unit);
            }
        }
        if kept.is_empty() {
            return Ok(Reused::default());
        }
        let kept = kept.join(" OR ");
        let mut cells = Vec::new();
        let sql = format!(
            "SELECT indicator, year, period, level, rhf, hf, breakdown, numerator, denominator, value, ci_low, ci_high,
                    ci99_low, ci99_high
             FROM {} WHERE {kept}",
            crate::tables::DISCLOSURE
        );
        for b in crate::batch::collect(ctx, &sql).await? {
            cells.extend(published_cells(&b, &unit)?);
        }
        let variation = crate::batch::collect(ctx, &format!("SELECT * FROM variation WHERE {kept}")).await?;
        let mut residence = BTreeMap::new();
        let sql = "SELECT rhf, period, residence_unknown, residence_mapped_by_share FROM data_quality
                   WHERE extract = 'coding' AND residence_unknown IS NOT NULL";
        for b in crate::batch::collect(ctx, sql).await? {
            let column = |n: &str, t: &DataType| crate::batch::column(&b, n, t);
            let (rhf, period) = (column("rhf", &DataType::Utf8)?, column("period", &DataType::Utf8)?);
            let unknown = column("residence_unknown", &DataType::UInt64)?;
            let shared = column("residence_mapped_by_share", &DataType::UInt64)?;
            let (rhf, period) = (rhf.as_string::<i32>(), period.as_string::<i32>());
            let (unknown, shared) = (unknown.as_primitive::<UInt64Type>(), shared.as_primitive::<UInt64Type>());
            for i in 0..b.num_rows() {
                let year = year_of(period.value(i));
                if rhf.is_null(i) || year.is_none_or(|y| rebuilt.contains(&y)) {
                    continue;
                }
                let shared = if shared.is_null(i) { 0 } else { shared.value(i) };
                residence.insert((rhf.value(i).to_string(), period.value(i).to_string()), (unknown.value(i), shared));
            }
        }
        Ok(Reused { cells, variation, residence })
    }
}

/// Rows of the table `disclosure` as cells, with their figures and nothing hidden.
fn published_cells(b: &RecordBatch, unit: &BTreeMap<&str, Unit>) -> Result<Vec<Cell>, QueryError> {
    let ids = crate::batch::column(b, "indicator", &DataType::Utf8)?;
    let ids = ids.as_string::<i32>();
    crate::tables::read_cells(b, |i| {
        let id = ids.value(i);
        let unit = unit.get(id).ok_or_else(|| QueryError::Sql(format!("published indicator_values: {id}?")))?;
        Ok((id.to_string(), *unit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_year_local_indicators_are_those_of_coded_contacts_alone() {
        let reads = Reads::of(include_str!("../sql/prelude.sql"));
        let catalogue = crate::catalogue::embedded();
        let local: BTreeSet<&str> = catalogue.iter().filter(|i| reads.year_local(i)).map(|i| i.id.as_str()).collect();
        // By reading each file: the indicators over contact, contact_cube or catchment_strata.
        let expected = BTreeSet::from([
            "a0099_of_education_share",
            "a0099_share",
            "education_activity_share",
            "education_contacts_rate",
            "education_persons_rate",
            "education_rate_by_sex",
            "education_rate_by_size_class",
            "interpreter_share_all",
            "interpreter_share_education",
            "relatives_education_share",
            "sami_area_education_rate",
        ]);
        assert_eq!(local, expected);
        assert!(reads.allow_scoping(catalogue));
        for view in ["contact", "contact_cube", "catchment_strata"] {
            assert!(reads.coding.contains(view), "{view}");
        }
        for view in ["response", "pam_pair", "unit_pam_pair", "evaluation_unit"] {
            assert!(reads.evaluation.contains(view) && !reads.coding.contains(view), "{view}");
        }
    }

    #[test]
    fn an_indicator_of_contacts_and_evaluations_makes_the_build_full() {
        let reads = Reads::of(include_str!("../sql/prelude.sql"));
        let mut both = crate::catalogue::embedded()[0].clone();
        both.sql = "SELECT * FROM contact_cube c JOIN pam_pair p ON p.year = c.year -- a comment: coding".into();
        assert!(!reads.year_local(&both));
        assert!(!reads.allow_scoping(&[both.clone()]));
        both.sql = "SELECT * FROM course_run -- contact_cube in a comment is not read".into();
        assert!(!reads.year_local(&both) && reads.allow_scoping(&[both]));
    }

    #[test]
    fn the_changed_years_are_those_added_changed_or_gone() {
        let m = |pairs: &[(i32, &str)], evaluation: &[&str]| Basis {
            years: pairs.iter().map(|(y, d)| (*y, d.to_string())).collect(),
            evaluation: evaluation.iter().map(|p| p.to_string()).collect(),
        };
        let before = m(&[(2022, "a"), (2023, "b"), (2024, "c")], &["e1", "e2"]);
        let now = m(&[(2023, "b"), (2024, "x"), (2025, "d")], &["e1", "e2", "e3"]);
        assert_eq!(changed_years(&before, &now), BTreeSet::from([2022, 2024, 2025]));
        assert!(changed_years(&now, &now).is_empty());
        assert_eq!(added_evaluations(&before, &now), Some(vec!["e3".to_string()]));
        assert_eq!(added_evaluations(&now, &now), Some(vec![]));
        // A file gone (a new version of its period): whose responses it held is not known.
        assert_eq!(added_evaluations(&now, &m(&[], &["e1", "e3", "e4"])), None);
    }
}
