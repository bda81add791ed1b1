//! Funnel limits (indicators.md, "Funnel limits (table `funnel`)"): for each share indicator, year,
//! level (`rhf`, `hf`) and breakdown, every shown unit's share against the national share p₀ with
//! the limits p₀ ± z·√(p₀(1 − p₀)/n) at 95 % and 99.8 %, widened by √φ where the units are
//! over-dispersed (Spiegelhalter 2005).
//!
//! Invariant (disclosure control): a row exists only for a unit whose cell is shown, in a group whose
//! national cell is shown; φ is computed from the shown units alone. So no row, limit or φ says
//! anything of a hidden cell beyond what the shown cells and denominators already say.

use std::collections::BTreeMap;

use datafusion::arrow::array::RecordBatch;

use crate::batch::json_batches;
use crate::catalogue::{Indicator, Level, Unit};
use crate::error::{QueryError, sql_error};
use crate::interval::{L95, L998};
use crate::suppress::Cell;
pub use crate::tables::{FunnelRow, funnel_schema};

/// The one-sided 95 % normal quantile of the over-dispersion test.
pub const Z_TEST: f64 = 1.644854;

/// The value at nearest rank `ceil(p · k)` (1-based) of sorted `z`.
fn nearest_rank(sorted: &[f64], percent: usize) -> f64 {
    let k = sorted.len();
    let rank = (percent * k).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// φ of the z-scores: winsorised at the 10th and 90th percentiles (nearest rank), Σ z² / k.
pub fn phi(z: &[f64]) -> Option<f64> {
    if z.len() < 2 {
        return None;
    }
    let mut sorted = z.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (low, high) = (nearest_rank(&sorted, 10), nearest_rank(&sorted, 90));
    let k = z.len() as f64;
    Some(z.iter().map(|z| z.clamp(low, high).powi(2)).sum::<f64>() / k)
}

/// Whether k units with `phi` are over-dispersed: k·φ > k − 1 + z(0.95)·√(2(k − 1)).
pub fn overdispersed(k: usize, phi: f64) -> bool {
    let k = k as f64;
    k * phi > k - 1.0 + Z_TEST * (2.0 * (k - 1.0)).sqrt()
}

/// The funnel rows of every share indicator, from the published cells (after disclosure control).
pub fn funnel(cells: &[Cell], catalogue: &[Indicator]) -> Vec<FunnelRow> {
    let shares: BTreeMap<&str, ()> =
        catalogue.iter().filter(|i| i.unit == Unit::Share).map(|i| (i.id.as_str(), ())).collect();
    let shown = |c: &&Cell| shares.contains_key(c.indicator.as_str()) && !c.suppressed;
    let national: BTreeMap<(&str, i32, &str), f64> = cells
        .iter()
        .filter(shown)
        .filter(|c| c.level == Level::National)
        .filter_map(|c| c.value.map(|v| ((c.indicator.as_str(), c.year, c.breakdown.as_str()), v)))
        .collect();
    type Group<'a> = (&'a str, i32, &'static str, &'a str);
    let mut groups: BTreeMap<Group<'_>, Vec<&Cell>> = BTreeMap::new();
    for c in cells.iter().filter(shown).filter(|c| c.level != Level::National) {
        if c.value.is_some() && c.denominator.is_some_and(|n| n > 0.0) {
            groups.entry((c.indicator.as_str(), c.year, c.level.as_str(), c.breakdown.as_str())).or_default().push(c);
        }
    }
    let mut out = Vec::new();
    for ((indicator, year, level, breakdown), mut units) in groups {
        let Some(&p0) = national.get(&(indicator, year, breakdown)) else { continue };
        units.sort_by(|a, b| (&a.rhf, &a.hf).cmp(&(&b.rhf, &b.hf)));
        let se = |n: f64| (p0 * (1.0 - p0) / n).sqrt();
        let inside = p0 > 0.0 && p0 < 1.0;
        let z: Vec<f64> = if inside {
            units.iter().map(|c| (c.value.unwrap_or_default() - p0) / se(c.denominator.unwrap_or_default())).collect()
        } else {
            Vec::new()
        };
        let phi = phi(&z);
        let wide = phi.is_some_and(|phi| overdispersed(units.len(), phi));
        let factor = if wide { phi.unwrap_or(1.0).sqrt() } else { 1.0 };
        for c in units {
            let (n, p) = (c.denominator.unwrap_or_default(), c.value.unwrap_or_default());
            let limit = |z: f64| {
                let h = z * factor * se(n);
                ((p0 - h).clamp(0.0, 1.0), (p0 + h).clamp(0.0, 1.0))
            };
            let ((low95, high95), (low998, high998)) = (limit(L95.z), limit(L998.z));
            let outside = if p > high998 {
                Some("above998")
            } else if p > high95 {
                Some("above95")
            } else if p < low998 {
                Some("below998")
            } else if p < low95 {
                Some("below95")
            } else {
                None
            };
            out.push(FunnelRow {
                indicator: indicator.to_string(),
                year,
                level: level.to_string(),
                rhf: c.rhf.clone(),
                hf: c.hf.clone(),
                breakdown: breakdown.to_string(),
                denominator: n,
                value: p,
                national: p0,
                low95,
                high95,
                low998,
                high998,
                phi,
                overdispersed: wide,
                outside: outside.map(str::to_string),
            });
        }
    }
    out
}

/// The rows as one batch of [`funnel_schema`].
pub fn funnel_batch(rows: &[FunnelRow]) -> Result<RecordBatch, QueryError> {
    let schema = funnel_schema();
    let batches = json_batches(schema.clone(), rows)?;
    datafusion::arrow::compute::concat_batches(&schema, &batches).map_err(sql_error)
}
