-- id: sami_language_runs
-- title_nb: Kurs på samisk
-- title_en: Course runs in a Sami language
-- unit: count
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns: sprak
-- definition: Course runs with sprak se (North Sami), smj (Lule Sami) or sma (South Sami); per sprak the runs in that language.
SELECT year, rhf, hf, breakdown, numerator, NULL AS denominator, numerator AS value, NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN NOT avlyst AND sprak IN ('se', 'smj', 'sma') THEN 1 ELSE 0 END) AS numerator
    FROM course_run
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
    UNION ALL
    SELECT year, rhf, hf, 'sprak=' || v.value AS breakdown,
           sum(CASE WHEN NOT avlyst AND sprak = v.value THEN 1 ELSE 0 END) AS numerator
    FROM (VALUES ('se'), ('smj'), ('sma')) AS v(value) CROSS JOIN course_run
    GROUP BY GROUPING SETS ((year, v.value), (year, rhf, v.value), (year, rhf, hf, v.value))
) cells
