-- Direct standardisation (indicators.md), the one place its formula lives. Input `strata`: one row
-- per cell and stratum with d (events), n (inhabitants) and w (the stratum's standard weight);
-- repeated rows of a stratum are summed first. Strata with n = 0 contribute nothing; the numerator
-- is Σ d; cells without inhabitants do not exist.
--   rate = 1000 · Σ w·d/n;  variance = 1000² · Σ w²·d/n²;  w_max = max w/n over strata with n > 0.
-- The intervals (Fay–Feuer, from rate, variance and w_max) are computed in Rust (`interval.rs`): they
-- need χ² quantiles.
-- Reproducible to the bit (docs/decisions.md): d and n are summed as integers; each stratum's term is
-- one floating-point expression of its own row, rounded to a fixed-point DECIMAL(38, 24) and summed
-- exactly, so the sum does not depend on the order in which a parallel plan delivers the strata; only
-- the sum is turned back into a double. 24 decimals keep 14 significant digits of the smallest term of
-- a real cell (1000²·w²·d/n² ≈ 1e-10 at w = 0.01, d = 1, n = 10⁶); 14 integer digits hold any rate.
SELECT year, rhf, hf, breakdown, numerator, denominator, value, NULL AS ci_low, NULL AS ci_high, variance, w_max
FROM (
    SELECT year, rhf, hf, breakdown,
           sum(d) AS numerator,
           sum(n) AS denominator,
           CAST(sum(CAST(CASE WHEN n > 0 THEN 1000.0 * w * CAST(d AS DOUBLE) / CAST(n AS DOUBLE) ELSE 0.0 END
                         AS DECIMAL(38, 24))) AS DOUBLE) AS value,
           CAST(sum(CAST(CASE WHEN n > 0 THEN 1000000.0 * w * w * CAST(d AS DOUBLE) / (CAST(n AS DOUBLE) * CAST(n AS DOUBLE))
                              ELSE 0.0 END
                         AS DECIMAL(38, 24))) AS DOUBLE) AS variance,
           max(CASE WHEN n > 0 THEN w / CAST(n AS DOUBLE) END) AS w_max
    FROM (
        SELECT year, rhf, hf, breakdown, sex, age_group, sum(d) AS d, sum(n) AS n, max(w) AS w
        FROM strata
        GROUP BY year, rhf, hf, breakdown, sex, age_group
    ) s
    GROUP BY year, rhf, hf, breakdown
    HAVING sum(n) > 0
) cells
