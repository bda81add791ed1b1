-- id: satisfaction_mean
-- title_nb: Tilfredshet, gjennomsnitt (1–5)
-- title_en: Satisfaction, mean (1–5)
-- unit: mean
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Mean tilfredshet of etter responses; numerator = etter responses that answer it.
SELECT u.year, u.rhf, u.hf, '' AS breakdown,
       count(CASE WHEN r.maletidspunkt = 'etter' THEN r.tilfredshet END) AS numerator,
       NULL AS denominator,
       CAST(sum(CASE WHEN r.maletidspunkt = 'etter' THEN r.tilfredshet END) AS DOUBLE)
         / count(CASE WHEN r.maletidspunkt = 'etter' THEN r.tilfredshet END) AS value,
       NULL AS ci_low, NULL AS ci_high
FROM evaluation_unit u
LEFT JOIN response r ON r.year = u.year AND r.rhf = u.rhf AND r.hf = u.hf
GROUP BY GROUPING SETS ((u.year), (u.year, u.rhf), (u.year, u.rhf, u.hf))
