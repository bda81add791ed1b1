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
    SELECT u.year, u.rhf, u.hf, sum(CASE WHEN r.maletidspunkt = 'etter' THEN 1 ELSE 0 END) AS numerator
    FROM evaluation_unit u
    LEFT JOIN response r ON r.year = u.year AND r.rhf = u.rhf AND r.hf = u.hf
    GROUP BY GROUPING SETS ((u.year), (u.year, u.rhf), (u.year, u.rhf, u.hf))
),
participants AS (
    SELECT year, rhf, hf,
           sum(CASE WHEN avlyst THEN 0 ELSE deltakere_pasient + deltakere_parorende END) AS denominator
    FROM course_run
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
)
-- A unit without participants has denominator 0, numerator 0 and no value (indicators.md, cells).
SELECT r.year, r.rhf, r.hf, '' AS breakdown,
       CASE WHEN p.denominator > 0 THEN r.numerator ELSE 0 END AS numerator,
       coalesce(p.denominator, 0) AS denominator,
       CASE WHEN p.denominator > 0 THEN CAST(r.numerator AS DOUBLE) / p.denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM responses r
LEFT JOIN participants p
  ON p.year = r.year AND coalesce(p.rhf, '') = coalesce(r.rhf, '') AND coalesce(p.hf, '') = coalesce(r.hf, '')
