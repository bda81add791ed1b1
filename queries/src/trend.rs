//! Recent trend (indicators.md, third edition, "Recent trend (table `trend`)"): Fingertips'
//! recent-trend rule per (indicator, level, unit, breakdown) of every share and standardised rate.
//!
//! The five years are the indicator's five newest single years (those it has any cell for): the
//! trend is of the recent past or none. Each must have a shown cell with a value and a 95 % interval
//! of positive width for the series; otherwise the series `cannot_be_calculated`. Only shown figures
//! go in, so the table says nothing of a hidden cell that the shown cells do not.
//!
//! For the five points: se_j = (ci_high_j − ci_low_j) / 3.92, w_j = 1 / se_j², t̄ = Σ w t / Σ w,
//! b = Σ w (t − t̄)(y − ȳ) / Σ w (t − t̄)², χ² = b² Σ w (t − t̄)². `increasing` or `decreasing` (b's
//! sign) where χ² > 9.5495 and each of the five slopes fitted with one point left out has b's sign;
//! `no_significant_change` otherwise.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalogue::{Indicator, Level, Method, Unit};
use crate::cell::Cell;
use crate::target::{Better, Target};

/// χ² on one degree of freedom at p = 0.002.
pub const CHI2_CRITICAL: f64 = 9.5495;

/// Years a trend is fitted over.
pub const YEARS: usize = 5;

/// What the rule says of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Increasing,
    Decreasing,
    NoSignificantChange,
    CannotBeCalculated,
}

impl Trend {
    pub fn as_str(self) -> &'static str {
        match self {
            Trend::Increasing => "increasing",
            Trend::Decreasing => "decreasing",
            Trend::NoSignificantChange => "no_significant_change",
            Trend::CannotBeCalculated => "cannot_be_calculated",
        }
    }

    pub fn parse(s: &str) -> Option<Trend> {
        [Trend::Increasing, Trend::Decreasing, Trend::NoSignificantChange, Trend::CannotBeCalculated]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// Whether a significant trend is for the better, where a target says which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Improving,
    Worsening,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Improving => "improving",
            Direction::Worsening => "worsening",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        [Direction::Improving, Direction::Worsening].into_iter().find(|d| d.as_str() == s)
    }
}

/// A weighted least-squares fit of value on year: the slope and χ².
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    pub slope: f64,
    pub chi2: f64,
}

/// The fit of `points` (year, value, standard error); `None` with fewer than two points, a standard
/// error that is not positive, or years all alike.
pub fn fit(points: &[(f64, f64, f64)]) -> Option<Fit> {
    if points.len() < 2 || points.iter().any(|p| p.2.is_nan() || p.2 <= 0.0 || !p.0.is_finite() || !p.1.is_finite()) {
        return None;
    }
    let w: Vec<f64> = points.iter().map(|p| 1.0 / (p.2 * p.2)).collect();
    let sw: f64 = w.iter().sum();
    let t_bar = points.iter().zip(&w).map(|(p, w)| w * p.0).sum::<f64>() / sw;
    let y_bar = points.iter().zip(&w).map(|(p, w)| w * p.1).sum::<f64>() / sw;
    let stt: f64 = points.iter().zip(&w).map(|(p, w)| w * (p.0 - t_bar).powi(2)).sum();
    if stt.is_nan() || stt <= 0.0 {
        return None;
    }
    let sty: f64 = points.iter().zip(&w).map(|(p, w)| w * (p.0 - t_bar) * (p.1 - y_bar)).sum();
    let slope = sty / stt;
    Some(Fit { slope, chi2: slope * slope * stt })
}

/// The rule on five points (year, value, se): the trend and the full fit.
pub fn classify(points: &[(f64, f64, f64)]) -> (Trend, Option<Fit>) {
    let Some(full) = fit(points).filter(|_| points.len() == YEARS) else {
        return (Trend::CannotBeCalculated, None);
    };
    let sign = full.slope.signum();
    let robust = full.slope != 0.0
        && (0..points.len()).all(|left_out| {
            let rest: Vec<(f64, f64, f64)> =
                points.iter().enumerate().filter(|(i, _)| *i != left_out).map(|(_, p)| *p).collect();
            fit(&rest).is_some_and(|f| f.slope.signum() == sign && f.slope != 0.0)
        });
    let trend = if full.chi2 > CHI2_CRITICAL && robust {
        if sign > 0.0 { Trend::Increasing } else { Trend::Decreasing }
    } else {
        Trend::NoSignificantChange
    };
    (trend, Some(full))
}

/// One row of the table `trend` (and of `GET /api/v1/trend/{id}`, which serialises it as it is).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TrendRow {
    pub indicator: String,
    pub level: Level,
    pub rhf: Option<String>,
    pub hf: Option<String>,
    pub breakdown: String,
    pub from_year: Option<i32>,
    pub to_year: Option<i32>,
    pub slope: Option<f64>,
    pub chi2: Option<f64>,
    pub trend: Trend,
    pub direction: Option<Direction>,
}

/// The trend of every series of the shares and standardised rates among `cells` (after disclosure
/// control, coverage and targets: hidden cells are left out), sorted by (indicator, level, rhf, hf,
/// breakdown).
pub fn trends(cells: &[Cell], catalogue: &[Indicator], targets: &[Target]) -> Vec<TrendRow> {
    let followed: BTreeMap<&str, &Indicator> = catalogue
        .iter()
        .filter(|i| i.unit == Unit::Share || i.method == Method::Standardised)
        .map(|i| (i.id.as_str(), i))
        .collect();
    // Per indicator, its single years; per series, its shown points by year.
    let mut years: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    type Series<'a> = (&'a str, Level, Option<&'a str>, Option<&'a str>, &'a str);
    type Points = BTreeMap<i32, Option<(f64, f64, f64)>>;
    let mut series: BTreeMap<Series, Points> = BTreeMap::new();
    for c in cells.iter().filter(|c| !c.pooled() && followed.contains_key(c.indicator.as_str())) {
        years.entry(&c.indicator).or_default().insert(c.year);
        let point = match (c.suppressed, c.value, c.ci_low, c.ci_high) {
            (false, Some(v), Some(lo), Some(hi)) => Some((f64::from(c.year), v, (hi - lo) / 3.92)),
            _ => None,
        };
        let key = (c.indicator.as_str(), c.level, c.rhf.as_deref(), c.hf.as_deref(), c.breakdown.as_str());
        series.entry(key).or_default().insert(c.year, point);
    }
    let mut out = Vec::with_capacity(series.len());
    for ((indicator, level, rhf, hf, breakdown), by_year) in series {
        let newest: Vec<i32> = years[indicator].iter().rev().take(YEARS).rev().copied().collect();
        let points: Option<Vec<(f64, f64, f64)>> = newest.iter().map(|y| by_year.get(y).copied().flatten()).collect();
        let (trend, fitted) = match points {
            Some(points) if newest.len() == YEARS => classify(&points),
            _ => (Trend::CannotBeCalculated, None),
        };
        let better = targets.iter().find(|t| t.indicator == indicator).map(|t| t.better);
        let direction = match (trend, better) {
            (Trend::Increasing, Some(Better::Higher)) | (Trend::Decreasing, Some(Better::Lower)) => {
                Some(Direction::Improving)
            }
            (Trend::Increasing, Some(Better::Lower)) | (Trend::Decreasing, Some(Better::Higher)) => {
                Some(Direction::Worsening)
            }
            _ => None,
        };
        out.push(TrendRow {
            indicator: indicator.to_string(),
            level,
            rhf: rhf.map(str::to_string),
            hf: hf.map(str::to_string),
            breakdown: breakdown.to_string(),
            from_year: (newest.len() == YEARS).then(|| newest[0]),
            to_year: (newest.len() == YEARS).then(|| newest[YEARS - 1]),
            slope: fitted.map(|f| f.slope),
            chi2: fitted.map(|f| f.chi2),
            trend,
            direction,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A five-point trend worked by hand. Years 2020–2024, values 10, 11, 12, 13, 14, every se 0.5
    /// (so every w = 4): t̄ = 2022, ȳ = 12; Σ w (t − t̄)² = 4 · (4 + 1 + 0 + 1 + 4) = 40;
    /// Σ w (t − t̄)(y − ȳ) = 4 · (4 + 1 + 0 + 1 + 4) = 40; b = 1; χ² = 1² · 40 = 40 > 9.5495, and
    /// every four-point fit of a line has slope 1: increasing.
    #[test]
    fn a_straight_rise_worked_by_hand() {
        let points: Vec<(f64, f64, f64)> = (0..5).map(|i| (2020.0 + i as f64, 10.0 + i as f64, 0.5)).collect();
        let (trend, fit) = classify(&points);
        let fit = fit.unwrap();
        assert!((fit.slope - 1.0).abs() < 1e-12 && (fit.chi2 - 40.0).abs() < 1e-9, "{fit:?}");
        assert_eq!(trend, Trend::Increasing);
    }

    /// Unequal weights, by hand. Years 0–4 (as offsets), values 5, 5, 6, 5, 7, se 1, 1, 1, 1, 0.5:
    /// w = 1, 1, 1, 1, 4, Σw = 8; t̄ = (0 + 1 + 2 + 3 + 16) / 8 = 2.75; ȳ = (5 + 5 + 6 + 5 + 28) / 8
    /// = 6.125. t − t̄ = −2.75, −1.75, −0.75, 0.25, 1.25; Σ w (t − t̄)² = 7.5625 + 3.0625 +
    /// 0.5625 + 0.0625 + 4 · 1.5625 = 17.5; y − ȳ = −1.125, −1.125, −0.125, −1.125, 0.875; and
    /// Σ w (t − t̄)(y − ȳ) = 3.09375 + 1.96875 + 0.09375 − 0.28125 + 4 · 1.09375 = 9.25;
    /// b = 9.25 / 17.5 = 0.528571…; χ² = b² · 17.5 = 4.889… < 9.5495: no significant change.
    #[test]
    fn unequal_weights_worked_by_hand() {
        let values = [5.0, 5.0, 6.0, 5.0, 7.0];
        let se = [1.0, 1.0, 1.0, 1.0, 0.5];
        let points: Vec<(f64, f64, f64)> = (0..5).map(|i| (2020.0 + i as f64, values[i], se[i])).collect();
        let (trend, fit) = classify(&points);
        let fit = fit.unwrap();
        assert!((fit.slope - 9.25 / 17.5).abs() < 1e-12, "{fit:?}");
        assert!((fit.chi2 - 9.25 * 9.25 / 17.5).abs() < 1e-9, "{fit:?}");
        assert_eq!(trend, Trend::NoSignificantChange);
    }

    /// Significant overall, but leaving out the last point turns the slope round: no significant
    /// change. Values 10, 9.5, 9, 8.5, 20 with se 0.1 (w = 100): ȳ = 11.4, Σ (t − t̄)(y − ȳ) =
    /// 2.8 + 1.9 + 0 − 2.9 + 17.2 = 19, Σ (t − t̄)² = 10, so b = 1.9 and χ² = 1.9² · 100 · 10 = 3 610;
    /// without the last point the four fall (b = −0.5).
    #[test]
    fn a_trend_carried_by_one_point_is_not_a_trend() {
        let values = [10.0, 9.5, 9.0, 8.5, 20.0];
        let points: Vec<(f64, f64, f64)> = (0..5).map(|i| (2020.0 + i as f64, values[i], 0.1)).collect();
        let (trend, fit) = classify(&points);
        let fit = fit.unwrap();
        assert!((fit.slope - 1.9).abs() < 1e-9 && (fit.chi2 - 3610.0).abs() < 1e-6, "{fit:?}");
        assert_eq!(trend, Trend::NoSignificantChange);
    }

    #[test]
    fn fewer_than_five_points_or_no_interval_cannot_be_calculated() {
        let four: Vec<(f64, f64, f64)> = (0..4).map(|i| (2020.0 + i as f64, i as f64, 0.1)).collect();
        assert_eq!(classify(&four).0, Trend::CannotBeCalculated);
        let mut five: Vec<(f64, f64, f64)> = (0..5).map(|i| (2020.0 + i as f64, i as f64, 0.1)).collect();
        five[2].2 = 0.0;
        assert_eq!(classify(&five).0, Trend::CannotBeCalculated);
    }
}
