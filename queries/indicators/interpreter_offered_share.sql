-- id: interpreter_offered_share
-- title_nb: Andel kurs med tilbud om tolk
-- title_en: Share of runs offering an interpreter
-- unit: share
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Runs with tolk_tilbudt ÷ runs.
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN NOT avlyst AND coalesce(tolk_tilbudt, false) THEN 1 ELSE 0 END) AS numerator,
           sum(CASE WHEN avlyst THEN 0 ELSE 1 END) AS denominator
    FROM course_run
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
