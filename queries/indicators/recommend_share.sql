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
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN maletidspunkt = 'etter' AND anbefale THEN 1 ELSE 0 END) AS numerator,
           sum(CASE WHEN maletidspunkt = 'etter' AND anbefale IS NOT NULL THEN 1 ELSE 0 END) AS denominator
    FROM response
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
