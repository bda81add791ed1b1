-- id: user_involvement_share
-- title_nb: Andel kurs med brukermedvirkning i planlegging, gjennomføring og evaluering
-- title_en: Share of runs with user involvement in planning, delivery and evaluation
-- unit: share
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Runs with bruker_planlegging, bruker_gjennomforing and bruker_evaluering all true ÷ runs.
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN NOT avlyst AND coalesce(bruker_planlegging, false) AND coalesce(bruker_gjennomforing, false) AND coalesce(bruker_evaluering, false) THEN 1 ELSE 0 END) AS numerator,
           sum(CASE WHEN avlyst THEN 0 ELSE 1 END) AS denominator
    FROM course_run
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
