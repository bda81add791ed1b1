-- id: satisfaction_mean
-- title_nb: Tilfredshet, gjennomsnitt (1–5)
-- title_en: Satisfaction, mean (1–5)
-- unit: mean
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Mean tilfredshet of etter responses; numerator = etter responses that answer it.
SELECT year, rhf, hf, '' AS breakdown,
       count(CASE WHEN maletidspunkt = 'etter' THEN tilfredshet END) AS numerator,
       NULL AS denominator,
       avg(CASE WHEN maletidspunkt = 'etter' THEN CAST(tilfredshet AS DOUBLE) END) AS value,
       NULL AS ci_low, NULL AS ci_high
FROM response
GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
