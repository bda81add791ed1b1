//! Targets (indicators.md, "Targets"): configured, never built in. An indicator with a target gets,
//! on each shown cell, `good`, `acceptable` or `below` (Resultatportalen's green, yellow, red) by
//! where its value stands against the target's two levels in the direction that is better.

use crate::catalogue::Indicator;
use crate::cell::Cell;
pub use crate::cell::Standing;

/// Which direction is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
}

/// One `[[target]]` of lms.toml.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub indicator: String,
    pub better: Better,
    /// The level at or beyond which a value is good.
    pub good: f64,
    /// The level at or beyond which a value is acceptable (short of good).
    pub acceptable: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetError {
    #[error(
        "[[target]] {indicator}: no such indicator (lms query \"SELECT DISTINCT indicator FROM indicator_values\" lists them)"
    )]
    UnknownIndicator { indicator: String },
    #[error("[[target]] {indicator}: given twice")]
    Twice { indicator: String },
    #[error(
        "[[target]] {indicator}: good {good} and acceptable {acceptable} must be numbers, and good must be {order} acceptable when {better} is better"
    )]
    Levels { indicator: String, good: f64, acceptable: f64, better: &'static str, order: &'static str },
}

impl Target {
    /// Where `value` stands.
    pub fn standing(&self, value: f64) -> Standing {
        let at_least = |level: f64| match self.better {
            Better::Higher => value >= level,
            Better::Lower => value <= level,
        };
        if at_least(self.good) {
            Standing::Good
        } else if at_least(self.acceptable) {
            Standing::Acceptable
        } else {
            Standing::Below
        }
    }
}

/// Checks targets against the catalogue: each names an indicator of it, once, with levels in the
/// order its direction needs (good at or beyond acceptable).
pub fn validate(targets: &[Target], catalogue: &[Indicator]) -> Result<(), TargetError> {
    let mut seen = std::collections::BTreeSet::new();
    for t in targets {
        if !catalogue.iter().any(|i| i.id == t.indicator) {
            return Err(TargetError::UnknownIndicator { indicator: t.indicator.clone() });
        }
        if !seen.insert(t.indicator.as_str()) {
            return Err(TargetError::Twice { indicator: t.indicator.clone() });
        }
        let (ordered, better, order) = match t.better {
            Better::Higher => (t.good >= t.acceptable, "higher", "at least"),
            Better::Lower => (t.good <= t.acceptable, "lower", "at most"),
        };
        if !t.good.is_finite() || !t.acceptable.is_finite() || !ordered {
            return Err(TargetError::Levels {
                indicator: t.indicator.clone(),
                good: t.good,
                acceptable: t.acceptable,
                better,
                order,
            });
        }
    }
    Ok(())
}

/// Sets `target` on every shown cell with a value of an indicator that has a target (and clears it
/// elsewhere): a hidden cell's value is not there to judge.
pub fn apply(cells: &mut [Cell], targets: &[Target]) {
    for c in cells.iter_mut() {
        c.target = match (targets.iter().find(|t| t.indicator == c.indicator), c.value) {
            (Some(t), Some(v)) if !c.suppressed => Some(t.standing(v)),
            _ => None,
        };
    }
}
