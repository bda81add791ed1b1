-- Direct standardisation (indicators.md), the one place its formula lives. Input `strata`: one row
-- per cell and stratum with d (events), n (inhabitants) and w (the stratum's standard weight);
-- repeated rows of a stratum are summed first. Strata with n = 0 contribute nothing; the numerator
-- is Σ d; cells without inhabitants do not exist.
--   rate = 1000 · Σ w·d/n;  variance = 1000² · Σ w²·d/n²;  95 % interval = rate ± 1.96·√variance, floored at 0.
SELECT year, rhf, hf, breakdown, numerator, denominator, value,
       greatest(value - 1.96 * sqrt(variance), 0.0) AS ci_low,
       value + 1.96 * sqrt(variance) AS ci_high
FROM (
    SELECT year, rhf, hf, breakdown,
           sum(d) AS numerator,
           sum(n) AS denominator,
           1000.0 * sum(CASE WHEN n > 0 THEN w * d / n ELSE 0.0 END) AS value,
           1000000.0 * sum(CASE WHEN n > 0 THEN w * w * d / (n * n) ELSE 0.0 END) AS variance
    FROM (
        SELECT year, rhf, hf, breakdown, sex, age_group,
               CAST(sum(d) AS DOUBLE) AS d, CAST(sum(n) AS DOUBLE) AS n, max(w) AS w
        FROM strata
        GROUP BY year, rhf, hf, breakdown, sex, age_group
    ) s
    GROUP BY year, rhf, hf, breakdown
    HAVING sum(n) > 0
) cells
