-- id: digital_share
-- title_nb: Andel digitale kurs
-- title_en: Share of runs held digitally
-- unit: share
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns: format
-- definition: Runs with format digital or hybrid ÷ runs; per format (fysisk, digital, hybrid): runs of that format ÷ runs.
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN NOT avlyst AND format IN ('digital', 'hybrid') THEN 1 ELSE 0 END) AS numerator,
           sum(CASE WHEN avlyst THEN 0 ELSE 1 END) AS denominator
    FROM course_run
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
    UNION ALL
    SELECT year, rhf, hf, 'format=' || v.value AS breakdown,
           sum(CASE WHEN NOT avlyst AND format = v.value THEN 1 ELSE 0 END) AS numerator,
           sum(CASE WHEN avlyst THEN 0 ELSE 1 END) AS denominator
    FROM (VALUES ('fysisk'), ('digital'), ('hybrid')) AS v(value) CROSS JOIN course_run
    GROUP BY GROUPING SETS ((year, v.value), (year, rhf, v.value), (year, rhf, hf, v.value))
) cells
