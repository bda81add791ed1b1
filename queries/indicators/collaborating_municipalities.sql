-- id: collaborating_municipalities
-- title_nb: Samarbeidende kommuner
-- title_en: Collaborating municipalities
-- unit: count
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Number of distinct municipalities (samarbeid_kommune) that planned or held a course run with the unit.
SELECT year, rhf, hf, '' AS breakdown,
       count(DISTINCT CASE WHEN avlyst THEN NULL ELSE samarbeid_kommune END) AS numerator,
       NULL AS denominator,
       count(DISTINCT CASE WHEN avlyst THEN NULL ELSE samarbeid_kommune END) AS value,
       NULL AS ci_low, NULL AS ci_high
FROM course_run
GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
