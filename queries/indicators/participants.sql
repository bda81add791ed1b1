-- id: participants
-- title_nb: Deltakere
-- title_en: Participants
-- unit: count
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Σ (deltakere_pasient + deltakere_parorende) over course runs that were not cancelled.
SELECT year, rhf, hf, '' AS breakdown,
       sum(CASE WHEN avlyst THEN 0 ELSE deltakere_pasient + deltakere_parorende END) AS numerator,
       NULL AS denominator,
       sum(CASE WHEN avlyst THEN 0 ELSE deltakere_pasient + deltakere_parorende END) AS value,
       NULL AS ci_low, NULL AS ci_high
FROM course_run
GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
