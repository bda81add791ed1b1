//! Funnel limits and over-dispersion (indicators.md, "Funnel limits") on cells made by hand; every
//! expected figure is worked out in the comments from the written formulas.

use lms_queries::catalogue::{Level, embedded};
use lms_queries::funnel::{FunnelRow, funnel, overdispersed, phi};
use lms_queries::suppress::Cell;

fn cell(level: Level, hf: Option<&str>, numerator: i64, denominator: f64) -> Cell {
    Cell {
        indicator: "a0099_share".into(),
        year: 2024,
        period: "2024".into(),
        level,
        rhf: (level != Level::National).then(|| "HSO".to_string()),
        hf: hf.map(Into::into),
        breakdown: String::new(),
        numerator,
        denominator: Some(denominator),
        value: Some(numerator as f64 / denominator),
        ci_low: None,
        ci_high: None,
        ci99_low: None,
        ci99_high: None,
        share: true,
        suppressed: false,
        denominator_suppressed: false,
        reason: None,
        compared: None,
        coverage: None,
        target: None,
    }
}

/// The nation at p₀ = 0.2 and ten trusts of n = 100 with the given numerators.
fn cells(numerators: [i64; 10]) -> Vec<Cell> {
    let mut out = vec![cell(Level::National, None, 200, 1000.0)];
    for (i, n) in numerators.into_iter().enumerate() {
        out.push(cell(Level::Hf, Some(&format!("T{i}")), n, 100.0));
    }
    out
}

fn row<'a>(rows: &'a [FunnelRow], hf: &str) -> &'a FunnelRow {
    rows.iter().find(|r| r.hf.as_deref() == Some(hf)).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

/// se = √(0.2 · 0.8 / 100) = 0.04, so shares 0.10 … 0.40 have z = −2.5, −2, −1.25, −0.5, 0, 0.5,
/// 1.25, 2, 2.5, 5. With k = 10 the 10th and 90th percentiles (nearest rank 1 and 9) are −2.5 and
/// 2.5, so 5 counts as 2.5: Σz² = 2·6.25 + 2·4 + 2·1.5625 + 2·0.25 + 0 + 6.25 = 30.375, φ = 3.0375.
/// The test: 10 · 3.0375 = 30.375 > 9 + 1.644854 · √18 = 15.9785…: over-dispersed, limits × √φ.
#[test]
fn over_dispersed_units_widen_the_limits_by_the_root_of_phi() {
    let rows = funnel(&cells([10, 12, 15, 18, 20, 22, 25, 28, 30, 40]), embedded());
    assert_eq!(rows.len(), 10, "one row per trust, none for the nation");
    let phi = 30.375 / 10.0;
    for r in &rows {
        assert!(close(r.phi.unwrap(), phi), "{r:?}");
        assert!(r.overdispersed);
        assert_eq!(r.national, 0.2);
    }
    let t9 = row(&rows, "T9");
    let wide = phi.sqrt() * 0.04;
    assert!(close(t9.high95, 0.2 + 1.959964 * wide), "{t9:?}");
    assert!(close(t9.high998, 0.2 + 3.090232 * wide), "{t9:?}");
    // 0.2 − 3.090232 · 0.0697 < 0: the lower 99.8 % limit is clipped to 0.
    assert!(0.2 - 3.090232 * wide < 0.0);
    assert_eq!(t9.low998, 0.0, "{t9:?}");
    assert!(close(t9.low95, 0.2 - 1.959964 * wide), "{t9:?}");
    // 0.40 lies between the widened 95 % (0.3366) and 99.8 % (0.4154) limits.
    assert_eq!(t9.outside.as_deref(), Some("above95"));
    // T0 at 0.10: the widened 95 % lower limit is 0.0634, so it is inside.
    assert_eq!(row(&rows, "T0").outside, None);
    assert!(overdispersed(10, phi));
    assert!(!overdispersed(10, 1.5), "10 · 1.5 = 15 ≤ 15.9785");
}

/// Nine trusts at p₀ and one at 0.30 (z = 2.5): the 90th percentile (rank 9) is 0, so the one is
/// winsorised to 0 and φ = 0: no over-dispersion, and the limits are p₀ ± z · 0.04:
/// 95 %: 0.2 ± 0.07839856, 99.8 %: 0.2 ± 0.12360928. 0.30 lies above the first and inside the second.
#[test]
fn one_outlier_is_winsorised_and_judged_by_the_plain_limits() {
    let rows = funnel(&cells([20, 20, 20, 20, 20, 20, 20, 20, 20, 30]), embedded());
    let t9 = row(&rows, "T9");
    assert_eq!(t9.phi, Some(0.0));
    assert!(!t9.overdispersed);
    assert!(close(t9.high95, 0.27839856) && close(t9.low95, 0.12160144), "{t9:?}");
    assert!(close(t9.high998, 0.32360928) && close(t9.low998, 0.07639072), "{t9:?}");
    assert_eq!(t9.outside.as_deref(), Some("above95"));
    assert!(rows.iter().filter(|r| r.hf.as_deref() != Some("T9")).all(|r| r.outside.is_none()));
    // Far out: 0.05 is below the 99.8 % limit (0.0764), 0.55 above it.
    let rows = funnel(&cells([20, 20, 20, 20, 20, 20, 20, 20, 5, 55]), embedded());
    assert_eq!(row(&rows, "T8").outside.as_deref(), Some("below998"));
    assert_eq!(row(&rows, "T9").outside.as_deref(), Some("above998"));
}

#[test]
fn phi_by_nearest_rank() {
    // k = 5: ranks ⌈0.5⌉ = 1 and ⌈4.5⌉ = 5, nothing is clipped: φ = (1 + 4 + 0 + 1 + 9) / 5 = 3.
    assert_eq!(phi(&[1.0, -2.0, 0.0, 1.0, 3.0]), Some(3.0));
    // k = 20: ranks ⌈2⌉ = 2 and ⌈18⌉ = 18 of the sorted −10, −1, 0 × 16, 1, 10 are −1 and 0, so
    // −10 → −1, 1 → 0 and 10 → 0: φ = (1 + 1) / 20.
    let mut z = vec![0.0; 16];
    z.extend([-10.0, -1.0, 1.0, 10.0]);
    assert_eq!(phi(&z), Some(0.1));
    assert_eq!(phi(&[2.0]), None, "one unit: no test");
}

/// Hidden cells are not in the funnel, and take no part in φ; a hidden nation hides the group.
#[test]
fn hidden_cells_leave_no_row() {
    let mut c = cells([10, 12, 15, 18, 20, 22, 25, 28, 30, 40]);
    c[10].suppressed = true; // T9, the outlier
    let rows = funnel(&c, embedded());
    assert_eq!(rows.len(), 9);
    assert!(rows.iter().all(|r| r.hf.as_deref() != Some("T9")));
    // Without 0.40: z = −2.5 … 2.5, k = 9, ranks ⌈0.9⌉ = 1 and ⌈8.1⌉ = 9 clip nothing: Σz² = 24.125.
    assert!(close(rows[0].phi.unwrap(), 24.125 / 9.0));
    c[0].suppressed = true; // the nation
    assert!(funnel(&c, embedded()).is_empty());
    // p₀ = 0: no z-scores, no φ; the limits collapse on 0.
    let zero: Vec<Cell> = cells([0; 10])
        .into_iter()
        .map(|mut x| {
            x.numerator = 0;
            x.value = Some(0.0);
            x
        })
        .collect();
    let rows = funnel(&zero, embedded());
    assert!(rows.iter().all(|r| r.phi.is_none() && !r.overdispersed && r.high998 == 0.0 && r.outside.is_none()));
}
