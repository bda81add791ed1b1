-- id: completion_rate
-- title_nb: Andel som fullførte
-- title_en: Completion rate
-- unit: share
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Σ fullfort ÷ participants, runs not cancelled (a proportion: disclosure control treats it as a share).
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN avlyst THEN 0 ELSE fullfort END) AS numerator,
           sum(CASE WHEN avlyst THEN 0 ELSE deltakere_pasient + deltakere_parorende END) AS denominator
    FROM course_run
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
