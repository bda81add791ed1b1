-- id: pam_low_activation_share
-- title_nb: Andel med lav aktivering (PAM-nivå 1–2) før kurset
-- title_en: Share with low activation (PAM level 1–2) before the course
-- unit: share
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: for responses with a PAM score at level 1 or 2 (score ≤ 55.1) ÷ for responses with a score.
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT u.year, u.rhf, u.hf, '' AS breakdown,
           sum(CASE WHEN r.maletidspunkt = 'for' AND CAST(r.pam_score * 100 AS BIGINT) <= 5510 THEN 1 ELSE 0 END) AS numerator,
           sum(CASE WHEN r.maletidspunkt = 'for' AND r.pam_score IS NOT NULL THEN 1 ELSE 0 END) AS denominator
    FROM evaluation_unit u
    LEFT JOIN response r ON r.year = u.year AND r.rhf = u.rhf AND r.hf = u.hf
    GROUP BY GROUPING SETS ((u.year), (u.year, u.rhf), (u.year, u.rhf, u.hf))
) cells
