//! The intervals of indicators.md ("Intervals") against values computed independently: χ²
//! quantiles and every expected bound below were computed with mpmath at 40 digits (the quantile by
//! root-finding on the regularised incomplete gamma function, started from SciPy's `chi2.ppf`),
//! from the written formulas.
// The expected values are written with the digits mpmath gave, more than a double holds.
#![allow(clippy::excessive_precision)]

use lms_queries::interval::{L95, L998, chi2_quantile, fay_feuer, normal, wilson};

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(f64::MIN_POSITIVE)
}

#[test]
fn chi2_quantiles_to_1e_12() {
    // (p, degrees of freedom, quantile)
    let known = [
        (0.975, 2.0, 7.377_758_908_227_870_829_3),
        (0.025, 2.0, 0.050_635_615_968_579_753_654),
        (0.001, 2.0, 0.002_001_000_667_167_067_042),
        (0.999, 2.0, 13.815_510_557_964_272_328),
        (0.025, 0.5, 5.273_202_591_259_993_627_6e-7),
        (0.975, 0.5, 3.433_235_299_960_774_373),
        (0.025, 7.3, 1.833_244_287_117_484_080_8),
        (0.975, 7.3, 16.473_245_004_110_146_286),
        (0.001, 123.45, 80.523_044_193_516_520_337),
        (0.999, 123.45, 177.750_284_504_289_668_14),
        (0.025, 1e4, 9_724.718_377_389_798_228_8),
        (0.975, 1e-2, 0.007_154_803_834_608_351_494_4),
    ];
    for (p, k, want) in known {
        let got = chi2_quantile(p, k);
        assert!(close(got, want, 1e-12), "χ²⁻¹({p}; {k}) = {got}, expected {want}");
    }
}

/// Two strata, w = (0.6, 0.4), n = (1000, 500): w_max = max(0.6/1000, 0.4/500) = 0.0008.
fn two_strata(d: [f64; 2]) -> (f64, f64, f64) {
    let (w, n) = ([0.6, 0.4], [1000.0, 500.0]);
    let y = w[0] * d[0] / n[0] + w[1] * d[1] / n[1];
    let v = w[0] * w[0] * d[0] / (n[0] * n[0]) + w[1] * w[1] * d[1] / (n[1] * n[1]);
    (y, v, 0.0008)
}

#[test]
fn fay_feuer_at_0_1_and_50_events() {
    // 0 events: [0, 1000 · w_max · χ²⁻¹(0.975; 2) / 2], never [0, 0].
    let (y, v, wm) = two_strata([0.0, 0.0]);
    let (low, high) = fay_feuer(y, v, wm, L95).unwrap();
    assert_eq!(low, 0.0);
    assert!(close(high, 2.951_103_563_291_148_331_7, 1e-12), "{high}");
    assert!(close(high, 1000.0 * wm * 7.377_758_908_227_870_829_3 / 2.0, 1e-12));
    let (low, high) = fay_feuer(y, v, wm, L998).unwrap();
    assert_eq!(low, 0.0);
    assert!(close(high, 5.526_204_223_185_708_931_1, 1e-12), "{high}");

    // 1 event, in the first stratum: rate 0.6 per 1000.
    let (y, v, wm) = two_strata([1.0, 0.0]);
    let (low, high) = fay_feuer(y, v, wm, L95).unwrap();
    assert!(close(low, 0.015_190_684_790_573_926_096, 1e-11), "{low}");
    assert!(close(high, 3.930_065_378_335_015_253_1, 1e-11), "{high}");
    let (low, high) = fay_feuer(y, v, wm, L998).unwrap();
    assert!(close(low, 0.000_600_300_200_150_120_112_59, 1e-11), "{low}");
    assert!(close(high, 6.534_724_313_842_214_590_9, 1e-11), "{high}");

    // 50 events (30 + 20): rate 34 per 1000.
    let (y, v, wm) = two_strata([30.0, 20.0]);
    assert!(close(1000.0 * y, 34.0, 1e-15));
    let (low, high) = fay_feuer(y, v, wm, L95).unwrap();
    assert!(close(low, 25.151_975_806_411_612_351, 1e-11), "{low}");
    assert!(close(high, 45.091_620_099_666_521_315, 1e-11), "{high}");
    let (low, high) = fay_feuer(y, v, wm, L998).unwrap();
    assert!(close(low, 20.937_969_054_711_603_402, 1e-11), "{low}");
    assert!(close(high, 52.015_956_623_363_083_177, 1e-11), "{high}");
}

/// With one stratum of weight 1 the Fay–Feuer interval is the exact Poisson (Garwood) interval:
/// [χ²⁻¹(0.025; 2d) / 2, χ²⁻¹(0.975; 2d + 2) / 2] / n. For 1 event that is the textbook
/// [0.0253, 5.5716] events.
#[test]
fn fay_feuer_of_one_stratum_is_the_exact_poisson_interval() {
    let n = 1000.0;
    let (low, high) = fay_feuer(1.0 / n, 1.0 / (n * n), 1.0 / n, L95).unwrap();
    assert!(close(low, 0.025_317_807_984_289_876_827, 1e-11), "{low}");
    assert!(close(high, 5.571_643_390_938_897_549_6, 1e-11), "{high}");
    for d in [2.0_f64, 7.0, 40.0] {
        let (low, high) = fay_feuer(d / n, d / (n * n), 1.0 / n, L95).unwrap();
        assert!(close(low, chi2_quantile(0.025, 2.0 * d) / 2.0, 1e-12), "{d}: {low}");
        assert!(close(high, chi2_quantile(0.975, 2.0 * d + 2.0) / 2.0, 1e-12), "{d}: {high}");
    }
}

#[test]
fn wilson_at_0_at_n_and_between() {
    let (low, high) = wilson(0.0, 20.0, L95).unwrap();
    assert_eq!(low, 0.0);
    assert!(close(high, 0.161_125_160_185_129_652_28, 1e-13), "{high}");
    let (low, high) = wilson(20.0, 20.0, L95).unwrap();
    assert!(close(low, 0.838_874_839_814_870_347_72, 1e-13), "{low}");
    assert_eq!(high, 1.0);
    let (low, high) = wilson(7.0, 20.0, L95).unwrap();
    assert!(close(low, 0.181_191_823_123_983_067_92, 1e-13), "{low}");
    assert!(close(high, 0.567_145_724_931_557_827_76, 1e-13), "{high}");
    let (low, high) = wilson(7.0, 20.0, L998).unwrap();
    assert!(close(low, 0.123_028_393_851_167_767_96, 1e-13), "{low}");
    assert!(close(high, 0.673_922_717_533_437_150_45, 1e-13), "{high}");
    let (low, high) = wilson(0.0, 20.0, L998).unwrap();
    assert_eq!(low, 0.0);
    assert!(close(high, 0.323_170_371_282_016_394_7, 1e-13), "{high}");
    assert_eq!(wilson(1.0, 0.0, L95), None);
}

#[test]
fn normal_interval_of_a_mean() {
    // mean 3.5, sd 1.2, n 36: half-widths 1.959964 · 0.2 and 3.090232 · 0.2.
    let (low, high) = normal(3.5, 1.2, 36.0, L95).unwrap();
    assert!(close(low, 3.5 - 0.391_992_8, 1e-15) && close(high, 3.5 + 0.391_992_8, 1e-15), "{low} {high}");
    let (low, high) = normal(3.5, 1.2, 36.0, L998).unwrap();
    assert!(close(low, 3.5 - 0.618_046_4, 1e-15) && close(high, 3.5 + 0.618_046_4, 1e-15), "{low} {high}");
    assert_eq!(normal(3.5, 0.0, 1.0, L95), None, "one response: no interval");
}
