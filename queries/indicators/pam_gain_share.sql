-- id: pam_gain_share
-- title_nb: Andel med PAM-økning på minst 3 poeng
-- title_en: Share of PAM pairs gaining 3 points or more
-- unit: share
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: PAM pairs whose score rose by 3.0 points or more ÷ pairs, compared in tenths of a point rounded half up: round(10·etter) − round(10·for) ≥ 30 (in integer hundredths, without division, so every SQL engine agrees).
SELECT year, rhf, hf, '' AS breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf,
           sum(CASE WHEN ((etter_hundredths + 5) - (etter_hundredths + 5) % 10) - ((for_hundredths + 5) - (for_hundredths + 5) % 10) >= 300 THEN 1 ELSE 0 END) AS numerator,
           count(for_hundredths) AS denominator
    FROM unit_pam_pair
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
