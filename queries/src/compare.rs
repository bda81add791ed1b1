//! `compared` (indicators.md, "Compared with the nation"): an rhf or hf cell is `higher` or `lower`
//! where its 95 % interval lies wholly above or wholly below the national value of the same
//! indicator, year (or pooled window) and breakdown, and `similar` where the interval holds it.
//!
//! Invariant: a cell gets a comparison only when neither it nor the national cell is suppressed and
//! both have their figures, so `compared` never says anything of a hidden value.

use std::collections::HashMap;

use crate::catalogue::Level;
use crate::suppress::{Cell, Compared};

/// Sets `compared` on every rhf and hf cell of `cells` (clearing it where it cannot be said).
pub fn compare(cells: &mut [Cell]) {
    let national: HashMap<(&str, i32, &str, &str), f64> = cells
        .iter()
        .filter(|c| c.level == Level::National && !c.suppressed)
        .filter_map(|c| c.value.map(|v| ((c.indicator.as_str(), c.year, c.period.as_str(), c.breakdown.as_str()), v)))
        .collect();
    let verdicts: Vec<Option<Compared>> = cells
        .iter()
        .map(|c| {
            if c.level == Level::National || c.suppressed {
                return None;
            }
            let nation = *national.get(&(c.indicator.as_str(), c.year, c.period.as_str(), c.breakdown.as_str()))?;
            let (low, high) = (c.ci_low?, c.ci_high?);
            Some(if low > nation {
                Compared::Higher
            } else if high < nation {
                Compared::Lower
            } else {
                Compared::Similar
            })
        })
        .collect();
    for (c, v) in cells.iter_mut().zip(verdicts) {
        c.compared = v;
    }
}
