-- id: priority_group_runs
-- title_nb: Kurs for prioriterte grupper
-- title_en: Course runs by priority group
-- unit: count
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns: prioritert_gruppe
-- definition: Number of course runs; per prioritert_gruppe (barn_unge, psykisk_rus, skropelige_eldre, flere_kroniske, ingen) the runs for that group.
SELECT year, rhf, hf, breakdown, numerator, NULL AS denominator, numerator AS value, NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown, sum(CASE WHEN avlyst THEN 0 ELSE 1 END) AS numerator
    FROM course_run
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
    UNION ALL
    SELECT year, rhf, hf, 'prioritert_gruppe=' || v.value AS breakdown,
           sum(CASE WHEN NOT avlyst AND prioritert_gruppe = v.value THEN 1 ELSE 0 END) AS numerator
    FROM (VALUES ('barn_unge'), ('psykisk_rus'), ('skropelige_eldre'), ('flere_kroniske'), ('ingen')) AS v(value)
    CROSS JOIN course_run
    GROUP BY GROUPING SETS ((year, v.value), (year, rhf, v.value), (year, rhf, hf, v.value))
) cells
