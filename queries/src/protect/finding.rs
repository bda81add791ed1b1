//! What the check finds, and the ways it can fail.

use crate::relations::ModelError;

/// A difference smaller than this is none (the programmes are solved in floating point).
pub(super) const EPSILON: f64 = 1e-6;

/// What a protected quantity is, of its cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum What {
    Numerator,
    /// A share's denominator minus its numerator.
    Complement,
    Denominator,
}

impl What {
    pub fn as_str(self) -> &'static str {
        match self {
            What::Numerator => "numerator",
            What::Complement => "complement",
            What::Denominator => "denominator",
        }
    }
}

/// A hidden count and what the attacker can know of it.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The first cell (in the order given) that hides it.
    pub cell: usize,
    pub what: What,
    /// Σ coefficient · atom.
    pub terms: Vec<(usize, i64)>,
    /// Its smallest and largest value (±∞ where unbounded). Where `exact` is false, a narrower
    /// interval of values the check saw feasible, already at least `min_count` wide.
    pub low: f64,
    pub high: f64,
    pub exact: bool,
    /// The relations (indexes into the model's) that name its hidden atoms (this and the next two
    /// fields are filled for an exposed count, and for every count in [`Mode::Exact`]).
    pub relations: Vec<usize>,
    /// Shown numbers of several atoms that name them (indexes into the model's numbers).
    pub facts: Vec<usize>,
    /// The shown atoms of those relations and numbers, with their values: what the attacker
    /// reads beside them.
    pub known: Vec<(usize, f64)>,
}

impl Finding {
    pub fn exposed(&self, min_count: i64) -> bool {
        self.high - self.low < min_count as f64 - EPSILON
    }
}

/// Why a publication cannot be protected or checked.
#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The shown numbers contradict the relations: a relation of `crate::relations` does not
    /// hold for these figures.
    #[error("disclosure check: the shown figures contradict the relations ({0})")]
    Infeasible(String),
    #[error("disclosure check: {0}")]
    Solver(String),
    /// Secondary suppression could not protect a count (nothing shown is left beside it).
    #[error("disclosure control: {0}")]
    Unprotectable(String),
    /// The final check found an exposed count: the publication must not be committed.
    #[error("disclosure control: {count} hidden count(s) can be worked out, e.g. {example}")]
    Exposed { count: usize, example: String },
}

/// Which part of a publication a check covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The single years: pooled windows' atoms, numbers and relations left out.
    Years,
    /// Everything.
    All,
}

/// How much a check computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The verdict: stop a count's programmes once it is seen protected.
    Verdict,
    /// Both programmes of every count (`lms audit disclosure`).
    Exact,
}

/// Σ coefficient · atom.
pub(super) type Terms = Vec<(usize, f64)>;

/// A constraint over hidden atoms: Σ terms = rhs (`equal`) or ≤ rhs.
pub(super) type Constraint = (Terms, bool, f64);

/// A count to bound: its terms over hidden atoms, the constant part from shown atoms, the index of
/// its finding.
pub(super) type Quantity = (Terms, f64, usize);
