//! What every published number counts, and the linear relations between those counts that an
//! attacker who knows indicators.md can use (third edition, "Disclosure control that holds against
//! differencing", 4). This is the one list the protection check ([`crate::protect`]) reads; the test
//! `every_relation_holds_on_the_demo_data` (queries/tests/it/disclosure.rs) checks each against the
//! true figures of a demo publication.
//!
//! The model: an **atom** is one count — a [`Measure`] at one unit (national, a region or an HF),
//! period and breakdown. Each cell publishes up to three numbers, each a sum of atoms ([`COUNTS`]):
//! its numerator, its denominator where that is a count (a population is public and no atom), and
//! for a mean its sum of scores (numerator × value). The relations:
//! - (a), (b) **hierarchy**: a region's atom is the sum of its HFs', the nation's the sum of the
//!   regions' (per measure, breakdown and period); for a count of distinct things (collaborating
//!   municipalities) the parent lies between the largest child and the children's sum;
//! - (c) **breakdown**: a total is the sum of its breakdown's parts, for the breakdowns whose every
//!   value is a published part ([`Measure::partitions`]; a part without a cell is 0);
//! - (d) **window**: a pooled window's atom is the sum of its three years';
//! - (e) **identity**: two numbers that name the same atoms publish the same count — the table
//!   [`COUNTS`] states them (A0099 contacts are `a0099_share`'s numerator and the denominator of
//!   `interpreter_share_education` and `relatives_education_share`; cancelled runs plus runs are
//!   `cancelled_share`'s denominator, runs `course_runs`' numerator);
//! - (f) **means**: the sums of scores add up as (a)–(c), and lie between the lowest and highest
//!   score times the number of responses;
//! - a share's numerator lies in [0, denominator]; every count is ≥ 0.

use std::collections::{BTreeMap, HashMap};

use crate::catalogue::Level;
use crate::suppress::Cell;

/// What a count counts (its name is the atom's measure).
#[derive(Clone, Copy, Debug)]
pub struct Measure {
    pub name: &'static str,
    pub kind: Kind,
    /// Breakdowns whose published parts add up to the total: (name, every value).
    pub partitions: &'static [(&'static str, &'static [&'static str])],
}

/// How a measure's atoms of a region relate to its HFs' (and the nation's to the regions').
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// A count of events or persons: the parent is the sum.
    Count,
    /// A count of distinct things: between the largest child and the sum.
    Distinct,
    /// A sum of scores of the responses counted by `of`, each score in [`low`, `high`].
    Sum { of: &'static str, low: f64, high: f64 },
}

const fn count(name: &'static str) -> Measure {
    Measure { name, kind: Kind::Count, partitions: &[] }
}

const fn sum(name: &'static str, of: &'static str, low: f64, high: f64) -> Measure {
    Measure { name, kind: Kind::Sum { of, low, high }, partitions: &[] }
}

const SEX: &[&str] = &["M", "F"];
const SIZE_CLASS: &[&str] = &["1", "2", "3", "4"];
const AREA: &[&str] = &["sami", "other"];

/// Every measure the published numbers are made of.
pub const MEASURES: &[Measure] = &[
    // Activity (provider view): runs not cancelled, by format and priority group (every run has one
    // of each; the contract requires them).
    Measure {
        name: "runs",
        kind: Kind::Count,
        partitions: &[
            ("format", lms_schemas::contract::FORMAT),
            ("prioritert_gruppe", lms_schemas::contract::PRIORITERT_GRUPPE),
        ],
    },
    count("runs_cancelled"),
    count("runs_user_involved"),
    count("runs_with_municipality"),
    count("runs_interpreter_offered"),
    Measure { name: "municipalities", kind: Kind::Distinct, partitions: &[] },
    count("participants"),
    count("relatives"),
    count("completed"),
    // Coding (provider view): contacts by service area (required, one of three).
    Measure {
        name: "contacts",
        kind: Kind::Count,
        partitions: &[("tjenesteomrade", lms_schemas::contract::TJENESTEOMRADE)],
    },
    Measure {
        name: "a0099",
        kind: Kind::Count,
        partitions: &[("tjenesteomrade", lms_schemas::contract::TJENESTEOMRADE)],
    },
    count("education"),
    count("a0099_relatives"),
    count("a0099_interpreter"),
    count("interpreter"),
    // Coding (residence view): A0099 contacts of the residents of a catchment area, by sex, by the
    // size class of their municipality and by the Sami language area; persons.
    Measure {
        name: "residents_a0099",
        kind: Kind::Count,
        partitions: &[("sex", SEX), ("size_class", SIZE_CLASS), ("area", AREA)],
    },
    count("residents_persons"),
    // Evaluations (provider view).
    count("pairs"),
    sum("pam_change_sum", "pairs", -100.0, 100.0),
    count("pairs_level_up"),
    count("pairs_gain"),
    count("for_scored"),
    count("for_low"),
    count("satisfaction_answers"),
    sum("satisfaction_sum", "satisfaction_answers", 1.0, 5.0),
    count("usefulness_answers"),
    sum("usefulness_sum", "usefulness_answers", 1.0, 5.0),
    count("recommend_answers"),
    count("recommend"),
    count("etter"),
];

/// A measure by name.
pub fn measure(name: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.name == name)
}

/// Which breakdown an atom of a number is at.
#[derive(Clone, Copy, Debug)]
pub enum Part {
    /// The total (breakdown empty).
    Total,
    /// The cell's own breakdown.
    Own,
    /// This breakdown (`name=value`).
    Of(&'static str),
}

/// One atom of a published number: a measure at the cell's unit and period.
#[derive(Clone, Copy, Debug)]
pub struct Term {
    pub measure: &'static str,
    pub part: Part,
}

const fn t(measure: &'static str) -> Term {
    Term { measure, part: Part::Total }
}

const fn own(measure: &'static str) -> Term {
    Term { measure, part: Part::Own }
}

const fn of(measure: &'static str, breakdown: &'static str) -> Term {
    Term { measure, part: Part::Of(breakdown) }
}

/// The numbers an indicator's cells publish, as sums of atoms.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    pub indicator: &'static str,
    pub numerator: &'static [Term],
    /// Empty where the denominator is no count (a population: public) or there is none.
    pub denominator: &'static [Term],
    /// A breakdown cell's numerator and denominator (empty for an indicator without breakdowns).
    pub breakdown_numerator: &'static [Term],
    pub breakdown_denominator: &'static [Term],
    /// A mean's sum of scores (numerator × value).
    pub sum: Option<&'static str>,
    /// The numerator is the count only where the denominator is positive (else it is published
    /// as 0), and it may exceed the denominator: `evaluation_coverage` (responses can outnumber
    /// the participants registered). Its complement is no count either.
    pub not_a_proportion: bool,
}

const fn cells(indicator: &'static str, numerator: &'static [Term], denominator: &'static [Term]) -> Counts {
    Counts {
        indicator,
        numerator,
        denominator,
        breakdown_numerator: &[],
        breakdown_denominator: &[],
        sum: None,
        not_a_proportion: false,
    }
}

const fn by(
    indicator: &'static str,
    (numerator, denominator): (&'static [Term], &'static [Term]),
    (breakdown_numerator, breakdown_denominator): (&'static [Term], &'static [Term]),
) -> Counts {
    Counts { breakdown_numerator, breakdown_denominator, ..cells(indicator, numerator, denominator) }
}

const fn mean(indicator: &'static str, numerator: &'static [Term], sum: &'static str) -> Counts {
    Counts { sum: Some(sum), ..cells(indicator, numerator, &[]) }
}

/// What every indicator's numbers count (the identities (e) between indicators): one entry per
/// indicator of the catalogue, read from its SQL file.
pub const COUNTS: &[Counts] = &[
    cells("course_runs", &[t("runs")], &[]),
    cells("participants", &[t("participants")], &[]),
    cells("participants_per_10k", &[t("participants")], &[]),
    cells("relatives_share", &[t("relatives")], &[t("participants")]),
    cells("completion_rate", &[t("completed")], &[t("participants")]),
    by(
        "digital_share",
        (&[of("runs", "format=digital"), of("runs", "format=hybrid")], &[t("runs")]),
        (&[own("runs")], &[t("runs")]),
    ),
    cells("user_involvement_share", &[t("runs_user_involved")], &[t("runs")]),
    cells("municipal_collaboration_share", &[t("runs_with_municipality")], &[t("runs")]),
    cells("collaborating_municipalities", &[t("municipalities")], &[]),
    by("priority_group_runs", (&[t("runs")], &[]), (&[own("runs")], &[])),
    by(
        "sami_language_runs",
        (&[of("runs", "sprak=se"), of("runs", "sprak=smj"), of("runs", "sprak=sma")], &[]),
        (&[own("runs")], &[]),
    ),
    cells("interpreter_offered_share", &[t("runs_interpreter_offered")], &[t("runs")]),
    cells("cancelled_share", &[t("runs_cancelled")], &[t("runs"), t("runs_cancelled")]),
    by("a0099_share", (&[t("a0099")], &[t("contacts")]), (&[own("a0099")], &[own("contacts")])),
    cells("education_activity_share", &[t("education")], &[t("contacts")]),
    cells("a0099_of_education_share", &[t("a0099")], &[t("education")]),
    cells("relatives_education_share", &[t("a0099_relatives")], &[t("a0099")]),
    cells("interpreter_share_education", &[t("a0099_interpreter")], &[t("a0099")]),
    cells("interpreter_share_all", &[t("interpreter")], &[t("contacts")]),
    cells("education_contacts_rate", &[t("residents_a0099")], &[]),
    cells("education_persons_rate", &[t("residents_persons")], &[]),
    by("education_rate_by_size_class", (&[t("residents_a0099")], &[]), (&[own("residents_a0099")], &[])),
    by("education_rate_by_sex", (&[t("residents_a0099")], &[]), (&[own("residents_a0099")], &[])),
    by("sami_area_education_rate", (&[t("residents_a0099")], &[]), (&[own("residents_a0099")], &[])),
    mean("pam_change", &[t("pairs")], "pam_change_sum"),
    cells("pam_level_up_share", &[t("pairs_level_up")], &[t("pairs")]),
    cells("pam_gain_share", &[t("pairs_gain")], &[t("pairs")]),
    cells("pam_low_activation_share", &[t("for_low")], &[t("for_scored")]),
    mean("satisfaction_mean", &[t("satisfaction_answers")], "satisfaction_sum"),
    mean("usefulness_mean", &[t("usefulness_answers")], "usefulness_sum"),
    cells("recommend_share", &[t("recommend")], &[t("recommend_answers")]),
    Counts { not_a_proportion: true, ..cells("evaluation_coverage", &[t("etter")], &[t("participants")]) },
];

/// An indicator's entry of [`COUNTS`].
pub fn counts(indicator: &str) -> Option<&'static Counts> {
    COUNTS.iter().find(|c| c.indicator == indicator)
}

/// One count: a measure at one unit, period and breakdown.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Atom {
    pub measure: &'static str,
    /// `YYYY`, or `YYYY-YYYY` for a pooled window.
    pub period: String,
    /// The year, or a window's middle year.
    pub year: i32,
    pub level: Level,
    pub rhf: Option<String>,
    pub hf: Option<String>,
    /// Empty for a total, else `name=value`.
    pub breakdown: String,
}

impl Atom {
    /// A pooled window's atom.
    pub fn pooled(&self) -> bool {
        self.period.len() > 4
    }
}

impl std::fmt::Display for Atom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.measure, self.period, self.level)?;
        for part in [&self.rhf, &self.hf].into_iter().flatten() {
            write!(f, " {part}")?;
        }
        if !self.breakdown.is_empty() {
            write!(f, " [{}]", self.breakdown)?;
        }
        Ok(())
    }
}

/// Which of a cell's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Numerator,
    Denominator,
    /// A mean's sum of scores (numerator × value).
    Sum,
}

/// A number a cell publishes: the sum of its atoms.
#[derive(Clone, Debug)]
pub struct Number {
    pub cell: usize,
    pub role: Role,
    /// Atom ids, sorted.
    pub atoms: Vec<usize>,
    /// The figure (its true value, whether shown or not; 0 where a served table withholds it).
    pub value: f64,
}

/// Which rule of the module docs a relation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RelationKind {
    /// (a), (b): a parent and its children.
    Hierarchy,
    /// (c): a total and its breakdown's parts.
    Breakdown,
    /// (d): a pooled window and its three years.
    Window,
    /// (f): a sum of scores between the lowest and highest score times the responses.
    ScoreRange,
    /// A share's numerator is at most its denominator.
    ShareBound,
}

impl RelationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RelationKind::Hierarchy => "hierarchy",
            RelationKind::Breakdown => "breakdown",
            RelationKind::Window => "window",
            RelationKind::ScoreRange => "score_range",
            RelationKind::ShareBound => "share_bound",
        }
    }
}

/// Σ coefficient · atom = 0 (`equal`) or ≤ 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Relation {
    pub kind: RelationKind,
    pub terms: Vec<(usize, f64)>,
    pub equal: bool,
}

/// The atoms, numbers and relations of a set of cells.
#[derive(Debug, Default)]
pub struct Model {
    pub atoms: Vec<Atom>,
    pub numbers: Vec<Number>,
    pub relations: Vec<Relation>,
    /// Each atom's lowest possible value (0, or −∞ for a sum of scores that can be negative).
    pub lower: Vec<f64>,
    /// Sums of atoms served outside `indicator_values` ([`Model::with_rows_loaded`]).
    pub served: Vec<ServedSum>,
    /// Each atom's id.
    ids: HashMap<Atom, usize>,
}

/// The rows loaded of one region's extract in one year: `data_quality`'s `rows_loaded` summed over
/// the year's deliveries (served to controllers). A year's activity rows are its runs and
/// cancelled runs, and its coding rows its contacts, so these sums are counts the check must see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowsLoaded {
    pub rhf: String,
    pub extract: String,
    pub year: i32,
    /// `None` where `data_quality` withholds them (a sum with them is unknown).
    pub rows: Option<u64>,
}

/// A sum of atoms `data_quality` serves: a region's rows of a year, or the nation's (the regions'
/// sum, which anyone can add up).
#[derive(Clone, Debug, PartialEq)]
pub struct ServedSum {
    /// Sorted.
    pub atoms: Vec<usize>,
    pub value: f64,
    /// The [`RowsLoaded`] it adds up (indexes into the list given): withholding any of them
    /// withholds it.
    pub from: Vec<usize>,
}

/// A cell the model cannot place.
#[derive(Debug, thiserror::Error)]
#[error("disclosure model: {0}")]
pub struct ModelError(pub String);

impl Model {
    /// The model of `cells` (every indicator must have an entry in [`COUNTS`]).
    pub fn of(cells: &[Cell]) -> Result<Model, ModelError> {
        let mut model = Model::default();
        let mut ids: HashMap<Atom, usize> = HashMap::new();
        for (i, c) in cells.iter().enumerate() {
            let counts = counts(&c.indicator)
                .ok_or_else(|| ModelError(format!("indicator {} has no entry in relations::COUNTS", c.indicator)))?;
            let (numerator, denominator) = if c.breakdown.is_empty() {
                (counts.numerator, counts.denominator)
            } else {
                (counts.breakdown_numerator, counts.breakdown_denominator)
            };
            if numerator.is_empty() {
                return Err(ModelError(format!("{}: no numerator for breakdown {}", c.indicator, c.breakdown)));
            }
            let without_denominator =
                counts.not_a_proportion && !c.denominator_suppressed && c.denominator.is_none_or(|d| d <= 0.0);
            // The atom exists whatever the cell publishes: its parent's count includes it.
            let atoms = model.resolve(&mut ids, c, numerator)?;
            if !without_denominator {
                if c.share && !denominator.is_empty() && !counts.not_a_proportion {
                    let mut terms: Vec<(usize, f64)> = atoms.iter().map(|&a| (a, 1.0)).collect();
                    terms.extend(model.resolve(&mut ids, c, denominator)?.iter().map(|&a| (a, -1.0)));
                    model.relations.push(Relation {
                        kind: RelationKind::ShareBound,
                        terms: combine(terms),
                        equal: false,
                    });
                }
                model.numbers.push(Number { cell: i, role: Role::Numerator, atoms, value: c.numerator as f64 });
            }
            if !denominator.is_empty() {
                let atoms = model.resolve(&mut ids, c, denominator)?;
                let value = c.denominator.unwrap_or_default();
                model.numbers.push(Number { cell: i, role: Role::Denominator, atoms, value });
            }
            if let Some(sum) = counts.sum {
                let atoms = model.resolve(&mut ids, c, &[own(sum)])?;
                // Exact in hundredths: scores are whole, PAM changes in hundredths of a point.
                let value = (c.value.unwrap_or_default() * c.numerator as f64 * 100.0).round() / 100.0;
                model.numbers.push(Number { cell: i, role: Role::Sum, atoms, value });
            }
        }
        model.relations.sort_by(|a, b| a.terms.partial_cmp(&b.terms).unwrap_or(std::cmp::Ordering::Equal));
        model.relations.dedup();
        model.derive(&ids);
        model.ids = ids;
        Ok(model)
    }

    /// The model with the yearly sums of `data_quality`'s rows loaded as served numbers: a region's
    /// activity rows of a year are its runs plus cancelled runs (`cancelled_share`'s denominator),
    /// its coding rows its contacts. Where the model has no such atoms (no cells of that region and
    /// year) there is nothing to relate them to.
    pub fn with_rows_loaded(mut self, loaded: &[RowsLoaded]) -> Model {
        // The regions' rows, and their sums over the regions: the nation's (anyone can add them up).
        // (extract, year) → (the regions' sum, which of `loaded` add up to it).
        type Sums<'a> = BTreeMap<(&'a str, i32), (Option<u64>, Vec<usize>)>;
        let mut national: Sums = BTreeMap::new();
        for (i, l) in loaded.iter().enumerate() {
            let sum = national.entry((&l.extract, l.year)).or_insert((Some(0), Vec::new()));
            sum.0 = sum.0.zip(l.rows).map(|(a, b)| a + b);
            sum.1.push(i);
        }
        // A withheld region's rows leave its sum and the nation's unknown.
        let regions = loaded
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Some((Some(l.rhf.as_str()), l.extract.as_str(), l.year, l.rows?, vec![i])));
        let nation = national
            .iter()
            .filter_map(|(&(extract, year), (rows, from))| Some((None, extract, year, (*rows)?, from.clone())));
        for (rhf, extract, year, rows, from) in regions.chain(nation).collect::<Vec<_>>() {
            let measures: &[&'static str] = match extract {
                "activity" => &["runs", "runs_cancelled"],
                "coding" => &["contacts"],
                _ => continue,
            };
            let atom = |measure: &'static str| Atom {
                measure,
                period: year.to_string(),
                year,
                level: if rhf.is_some() { Level::Rhf } else { Level::National },
                rhf: rhf.map(str::to_string),
                hf: None,
                breakdown: String::new(),
            };
            let atoms: Option<Vec<usize>> = measures.iter().map(|m| self.ids.get(&atom(m)).copied()).collect();
            if let Some(mut atoms) = atoms {
                atoms.sort_unstable();
                self.served.push(ServedSum { atoms, value: rows as f64, from });
            }
        }
        self
    }

    /// The atoms of `terms` at cell `c`'s unit and period, sorted (new ones added).
    fn resolve(&mut self, ids: &mut HashMap<Atom, usize>, c: &Cell, terms: &[Term]) -> Result<Vec<usize>, ModelError> {
        let mut out = Vec::with_capacity(terms.len());
        for term in terms {
            let m = measure(term.measure).ok_or_else(|| ModelError(format!("no measure {}", term.measure)))?;
            let breakdown = match term.part {
                Part::Total => String::new(),
                Part::Own => c.breakdown.clone(),
                Part::Of(b) => b.to_string(),
            };
            let atom = Atom {
                measure: m.name,
                period: c.period.clone(),
                year: c.year,
                level: c.level,
                rhf: c.rhf.clone(),
                hf: c.hf.clone(),
                breakdown,
            };
            let id = *ids.entry(atom).or_insert_with_key(|atom| {
                self.atoms.push(atom.clone());
                self.lower.push(match m.kind {
                    Kind::Sum { low, .. } if low < 0.0 => f64::NEG_INFINITY,
                    _ => 0.0,
                });
                self.atoms.len() - 1
            });
            out.push(id);
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The relations (a)–(d) and (f) between the atoms.
    fn derive(&mut self, ids: &HashMap<Atom, usize>) {
        let id = |a: &Atom| ids.get(a).copied();
        // (a), (b): per (measure, breakdown, period), the atoms by level.
        type Family<'a> = (&'a str, &'a str, &'a str);
        let mut families: BTreeMap<Family<'_>, Vec<usize>> = BTreeMap::new();
        for (i, a) in self.atoms.iter().enumerate() {
            families.entry((a.measure, &a.breakdown, &a.period)).or_default().push(i);
        }
        let mut relations = Vec::new();
        let atoms = &self.atoms;
        for members in families.values() {
            let at = |level: Level| members.iter().copied().filter(move |&i| atoms[i].level == level);
            let kind = measure(atoms[members[0]].measure).map_or(Kind::Count, |m| m.kind);
            let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
            if let Some(nation) = at(Level::National).next()
                && at(Level::Rhf).next().is_some()
            {
                groups.push((nation, at(Level::Rhf).collect()));
            }
            if at(Level::Hf).next().is_some() {
                for region in at(Level::Rhf) {
                    let rhf = &atoms[region].rhf;
                    groups.push((region, at(Level::Hf).filter(|&h| &atoms[h].rhf == rhf).collect()));
                }
            }
            for (parent, children) in groups {
                let mut terms = vec![(parent, 1.0)];
                terms.extend(children.iter().map(|&c| (c, -1.0)));
                if kind == Kind::Distinct {
                    // max(children) ≤ parent ≤ Σ children.
                    relations.push(Relation { kind: RelationKind::Hierarchy, terms, equal: false });
                    for &c in &children {
                        relations.push(Relation {
                            kind: RelationKind::Hierarchy,
                            terms: vec![(c, 1.0), (parent, -1.0)],
                            equal: false,
                        });
                    }
                } else {
                    relations.push(Relation { kind: RelationKind::Hierarchy, terms, equal: true });
                }
            }
        }
        for (i, a) in self.atoms.iter().enumerate() {
            let Some(m) = measure(a.measure) else { continue };
            // (c): a total and its published parts.
            if a.breakdown.is_empty() {
                for (name, values) in m.partitions {
                    let parts: Vec<usize> = values
                        .iter()
                        .filter_map(|v| id(&Atom { breakdown: format!("{name}={v}"), ..a.clone() }))
                        .collect();
                    if !parts.is_empty() {
                        let mut terms = vec![(i, 1.0)];
                        terms.extend(parts.iter().map(|&p| (p, -1.0)));
                        relations.push(Relation { kind: RelationKind::Breakdown, terms, equal: true });
                    }
                }
            }
            // (d): a window and its years.
            if a.pooled() {
                let mut terms = vec![(i, 1.0)];
                for y in a.year - 1..=a.year + 1 {
                    if let Some(j) = id(&Atom { period: y.to_string(), year: y, ..a.clone() }) {
                        terms.push((j, -1.0));
                    }
                }
                relations.push(Relation { kind: RelationKind::Window, terms, equal: true });
            }
            // (f): low · n ≤ sum ≤ high · n.
            if let Kind::Sum { of, low, high } = m.kind
                && let Some(n) = id(&Atom { measure: of, ..a.clone() })
            {
                relations.push(Relation {
                    kind: RelationKind::ScoreRange,
                    terms: vec![(n, low), (i, -1.0)],
                    equal: false,
                });
                relations.push(Relation {
                    kind: RelationKind::ScoreRange,
                    terms: vec![(i, 1.0), (n, -high)],
                    equal: false,
                });
            }
        }
        self.relations.extend(relations);
    }

    /// A relation as `kind: left = right` (or `≤`), positive terms on the left.
    pub fn relation_text(&self, r: &Relation) -> String {
        let side = |positive: bool| {
            let terms: Vec<String> = r
                .terms
                .iter()
                .filter(|(_, c)| (*c > 0.0) == positive)
                .map(|&(a, c)| match c.abs() {
                    1.0 => self.atoms[a].to_string(),
                    c => format!("{c} × {}", self.atoms[a]),
                })
                .collect();
            if terms.is_empty() { "0".to_string() } else { terms.join(" + ") }
        };
        format!("{}: {} {} {}", r.kind.as_str(), side(true), if r.equal { "=" } else { "≤" }, side(false))
    }

    /// Each atom's value where a number of that one atom gives it (`None` where none does).
    pub fn single_values(&self) -> Vec<Option<f64>> {
        let mut values = vec![None; self.atoms.len()];
        for n in &self.numbers {
            if let [a] = n.atoms[..] {
                values[a] = Some(n.value);
            }
        }
        values
    }
}

/// Terms with each atom once (coefficients added), sorted by atom.
pub(crate) fn combine(terms: Vec<(usize, f64)>) -> Vec<(usize, f64)> {
    let mut by: BTreeMap<usize, f64> = BTreeMap::new();
    for (a, c) in terms {
        *by.entry(a).or_default() += c;
    }
    by.into_iter().filter(|(_, c)| *c != 0.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Unit;

    #[test]
    fn every_indicator_has_its_counts_and_every_term_a_measure() {
        let catalogue = crate::catalogue::embedded();
        for i in catalogue {
            let c = counts(&i.id).unwrap_or_else(|| panic!("{} has no counts", i.id));
            assert!(!c.numerator.is_empty(), "{}", i.id);
            assert_eq!(!i.breakdowns.is_empty(), !c.breakdown_numerator.is_empty(), "{}: breakdown terms", i.id);
            assert_eq!(c.sum.is_some(), i.unit == Unit::Mean, "{}: a mean has a sum", i.id);
            if i.unit == Unit::Share {
                assert!(!c.denominator.is_empty(), "{}: a share's denominator is a count", i.id);
            }
            for term in
                c.numerator.iter().chain(c.denominator).chain(c.breakdown_numerator).chain(c.breakdown_denominator)
            {
                assert!(measure(term.measure).is_some(), "{}: {}", i.id, term.measure);
            }
        }
        assert_eq!(COUNTS.len(), catalogue.len(), "no entry without an indicator");
    }
}
