-- id: recommend_share
-- title_nb: Andel som vil anbefale kurset
-- title_en: Share who would recommend the course
-- unit: share
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: etter responses with anbefale true ÷ etter responses that answer it.
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT u.year, u.rhf, u.hf, '' AS breakdown,
           sum(CASE WHEN r.maletidspunkt = 'etter' AND r.anbefale THEN 1 ELSE 0 END) AS numerator,
           sum(CASE WHEN r.maletidspunkt = 'etter' AND r.anbefale IS NOT NULL THEN 1 ELSE 0 END) AS denominator
    FROM evaluation_unit u
    LEFT JOIN response r ON r.year = u.year AND r.rhf = u.rhf AND r.hf = u.hf
    GROUP BY GROUPING SETS ((u.year), (u.year, u.rhf), (u.year, u.rhf, u.hf))
) cells
