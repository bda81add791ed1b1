-- id: pam_level_up_share
-- title_nb: Andel som gikk opp minst ett PAM-nivå
-- title_en: Share of PAM pairs moving up a level
-- unit: share
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: PAM pairs whose etter level is above their for level ÷ pairs (levels: 1 ≤ 47.0 < 2 ≤ 55.1 < 3 ≤ 72.4 < 4).
SELECT year, rhf, hf, '' AS breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf,
           sum(CASE WHEN etter_level > for_level THEN 1 ELSE 0 END) AS numerator,
           count(for_hundredths) AS denominator
    FROM unit_pam_pair
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
