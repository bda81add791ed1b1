-- id: relatives_share
-- title_nb: Andel pårørende blant deltakerne
-- title_en: Relatives' share of participants
-- unit: share
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Σ deltakere_parorende ÷ Σ (deltakere_pasient + deltakere_parorende), runs not cancelled.
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN avlyst THEN 0 ELSE deltakere_parorende END) AS numerator,
           sum(CASE WHEN avlyst THEN 0 ELSE deltakere_pasient + deltakere_parorende END) AS denominator
    FROM course_run
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
