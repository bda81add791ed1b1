-- id: course_runs
-- title_nb: Kursgjennomføringer
-- title_en: Course runs
-- unit: count
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Number of course runs (cancelled runs excluded).
SELECT year, rhf, hf, '' AS breakdown,
       sum(CASE WHEN avlyst THEN 0 ELSE 1 END) AS numerator,
       NULL AS denominator,
       sum(CASE WHEN avlyst THEN 0 ELSE 1 END) AS value,
       NULL AS ci_low, NULL AS ci_high
FROM course_run
GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
