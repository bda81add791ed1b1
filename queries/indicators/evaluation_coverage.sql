-- id: evaluation_coverage
-- title_nb: Evalueringsdekning
-- title_en: Evaluation coverage
-- unit: share
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: etter responses dated in the year at the unit ÷ participants of the unit's course runs that start in that year (activity extract).
WITH responses AS (
    SELECT year, rhf, hf, sum(CASE WHEN maletidspunkt = 'etter' THEN 1 ELSE 0 END) AS numerator
    FROM response
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
),
participants AS (
    SELECT year, rhf, hf,
           sum(CASE WHEN avlyst THEN 0 ELSE deltakere_pasient + deltakere_parorende END) AS denominator
    FROM course_run
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
)
SELECT r.year, r.rhf, r.hf, '' AS breakdown, r.numerator, coalesce(p.denominator, 0) AS denominator,
       CASE WHEN p.denominator > 0 THEN CAST(r.numerator AS DOUBLE) / p.denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM responses r
LEFT JOIN participants p
  ON p.year = r.year AND coalesce(p.rhf, '') = coalesce(r.rhf, '') AND coalesce(p.hf, '') = coalesce(r.hf, '')
