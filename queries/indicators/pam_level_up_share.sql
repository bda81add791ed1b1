-- id: pam_level_up_share
-- title_nb: Andel som gikk opp minst ett PAM-nivå
-- title_en: Share of PAM pairs moving up a level
-- unit: share
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: PAM pairs whose etter level is above their for level ÷ pairs (levels: 1 ≤ 47.0 < 2 ≤ 55.1 < 3 ≤ 72.4 < 4).
WITH pairs AS (
    SELECT u.year, u.rhf, u.hf, p.for_hundredths, p.etter_hundredths, p.for_level, p.etter_level
    FROM evaluation_unit u
    LEFT JOIN pam_pair p ON p.year = u.year AND p.rhf = u.rhf AND p.hf = u.hf
)
SELECT year, rhf, hf, '' AS breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf,
           sum(CASE WHEN etter_level > for_level THEN 1 ELSE 0 END) AS numerator,
           count(for_hundredths) AS denominator
    FROM pairs
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
