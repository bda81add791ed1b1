-- Variation between catchment areas (indicators.md, table `variation`), per indicator and year (and
-- pooled window: `period`), over
-- the HF catchment cells (level hf, no breakdown) of the residence-view standardised rates.
-- Inputs: `indicator_values` after disclosure control, `strata` (the standardisation inputs).
-- When any catchment cell of an (indicator, year) is suppressed, only indicator, year, areas and
-- suppressed are kept: a minimum, a ratio or a dispersion would give the hidden rate away.
-- Sums of floating-point terms are taken exactly, as DECIMAL(38, 24), as in standardise.sql, so the
-- figures do not depend on the order a parallel plan delivers the rows in (docs/decisions.md); the
-- stratum counts d and n are integers held as doubles, whose sums are exact (below 2^53).
WITH area AS (
    SELECT indicator, year, period, hf, value, suppressed
    FROM indicator_values
    WHERE indicator IN ('education_contacts_rate', 'education_persons_rate')
      AND level = 'hf' AND breakdown = '' AND denominator > 0
),
ranked AS (
    SELECT indicator, year, period, hf, value, suppressed,
           row_number() OVER (PARTITION BY indicator, year, period ORDER BY value DESC, hf) AS high,
           row_number() OVER (PARTITION BY indicator, year, period ORDER BY value ASC, hf) AS low
    FROM area
),
summary AS (
    SELECT indicator, year, period, count(*) AS areas, bool_or(suppressed) AS suppressed,
           max(value) AS max, min(value) AS min,
           max(CASE WHEN high = 2 THEN value END) AS high2, max(CASE WHEN low = 2 THEN value END) AS low2,
           max(CASE WHEN high = 3 THEN value END) AS high3, max(CASE WHEN low = 3 THEN value END) AS low3,
           CAST(sum(CAST(value AS DECIMAL(38, 24))) AS DOUBLE) / count(value) AS mean,
           count(value) AS rates
    FROM ranked
    GROUP BY indicator, year, period
),
-- The sample standard deviation in two passes: squared deviations from the mean, summed exactly.
dispersion AS (
    SELECT m.indicator, m.year, m.period,
           CASE WHEN max(m.rates) > 1
                THEN sqrt(CAST(sum(CAST((r.value - m.mean) * (r.value - m.mean) AS DECIMAL(38, 24))) AS DOUBLE)
                          / (max(m.rates) - 1)) END AS sd
    FROM summary m
    JOIN ranked r ON r.indicator = m.indicator AND r.year = m.year AND r.period = m.period
    GROUP BY m.indicator, m.year, m.period
),
-- National stratum totals D_s and N_s.
national AS (
    SELECT indicator, year, period, sex, age_group, CAST(sum(d) AS DOUBLE) AS d, CAST(sum(n) AS DOUBLE) AS n
    FROM strata
    WHERE level = 'national' AND breakdown = ''
    GROUP BY indicator, year, period, sex, age_group
),
-- Observed O_i and expected E_i = Σ_s n_is · D_s / N_s events of each catchment area.
observed_expected AS (
    SELECT s.indicator, s.year, s.period, s.hf,
           CAST(sum(s.d) AS DOUBLE) AS o,
           CAST(sum(CAST(CASE WHEN nat.n > 0 THEN s.n * nat.d / nat.n ELSE 0.0 END AS DECIMAL(38, 24))) AS DOUBLE) AS e
    FROM strata s
    JOIN national nat ON nat.indicator = s.indicator AND nat.year = s.year AND nat.period = s.period
                     AND nat.sex = s.sex AND nat.age_group = s.age_group
    WHERE s.level = 'hf' AND s.breakdown = ''
    GROUP BY s.indicator, s.year, s.period, s.hf
    HAVING sum(s.n) > 0
),
systematic AS (
    SELECT indicator, year, period,
           CASE WHEN min(e) > 0
                THEN 100.0 * CAST(sum(CAST((o - e) * (o - e) / (e * e) - 1.0 / e AS DECIMAL(38, 24))) AS DOUBLE) / count(*)
           END AS scv
    FROM observed_expected
    GROUP BY indicator, year, period
)
SELECT m.indicator, m.year, m.period, m.areas,
       CASE WHEN m.suppressed THEN NULL ELSE m.max END AS max,
       CASE WHEN m.suppressed THEN NULL ELSE m.min END AS min,
       CASE WHEN m.suppressed OR m.min = 0 THEN NULL ELSE m.max / m.min END AS ratio,
       CASE WHEN m.suppressed OR m.low2 = 0 THEN NULL ELSE m.high2 / m.low2 END AS ratio2,
       CASE WHEN m.suppressed OR m.low3 = 0 THEN NULL ELSE m.high3 / m.low3 END AS ratio3,
       CASE WHEN m.suppressed OR m.mean = 0 THEN NULL ELSE 100.0 * sd.sd / m.mean END AS cv,
       CASE WHEN m.suppressed THEN NULL ELSE sy.scv END AS scv,
       m.suppressed
FROM summary m
JOIN dispersion sd ON sd.indicator = m.indicator AND sd.year = m.year AND sd.period = m.period
LEFT JOIN systematic sy ON sy.indicator = m.indicator AND sy.year = m.year AND sy.period = m.period
ORDER BY m.indicator, m.year, m.period
