-- id: cancelled_share
-- title_nb: Andel avlyste kurs
-- title_en: Share of runs cancelled
-- unit: share
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Cancelled runs ÷ (runs + cancelled runs).
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN avlyst THEN 1 ELSE 0 END) AS numerator,
           count(*) AS denominator
    FROM course_run
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
