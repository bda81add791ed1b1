-- id: usefulness_mean
-- title_nb: Nytte i hverdagen, gjennomsnitt (1–5)
-- title_en: Usefulness for everyday life, mean (1–5)
-- unit: mean
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Mean nytte of etter responses; numerator = etter responses that answer it.
SELECT year, rhf, hf, '' AS breakdown,
       count(CASE WHEN maletidspunkt = 'etter' THEN nytte END) AS numerator,
       NULL AS denominator,
       avg(CASE WHEN maletidspunkt = 'etter' THEN CAST(nytte AS DOUBLE) END) AS value,
       NULL AS ci_low, NULL AS ci_high
FROM response
GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
