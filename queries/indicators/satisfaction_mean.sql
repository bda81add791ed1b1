-- id: satisfaction_mean
-- title_nb: Tilfredshet, gjennomsnitt (1–5)
-- title_en: Satisfaction, mean (1–5)
-- unit: mean
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Mean tilfredshet of etter responses; numerator = etter responses that answer it; intervals mean ± z·sd/√n (sample sd; z = 1.959964 at 95 %, 3.090232 at 99.8 %).
SELECT year, rhf, hf, '' AS breakdown, numerator, NULL AS denominator,
       CAST(total AS DOUBLE) / numerator AS value, NULL AS ci_low, NULL AS ci_high,
       CASE WHEN numerator > 1
            THEN sqrt(CAST(CAST(numerator AS DECIMAL(38, 0)) * squares - CAST(total AS DECIMAL(38, 0)) * total AS DOUBLE)
                      / (CAST(numerator AS DOUBLE) * CAST(numerator - 1 AS DOUBLE)))
       END AS sd
FROM (
    -- The mean and sample sd from exact integer sums (n, Σx, Σx²; n·Σx² − (Σx)² as DECIMAL(38, 0)):
    -- no floating-point sum, whose result would depend on the order the responses arrive in.
    SELECT u.year, u.rhf, u.hf,
           count(CASE WHEN r.maletidspunkt = 'etter' THEN r.tilfredshet END) AS numerator,
           sum(CASE WHEN r.maletidspunkt = 'etter' THEN CAST(r.tilfredshet AS BIGINT) END) AS total,
           sum(CASE WHEN r.maletidspunkt = 'etter' THEN CAST(r.tilfredshet AS BIGINT) * CAST(r.tilfredshet AS BIGINT) END) AS squares
    FROM evaluation_unit u
    LEFT JOIN response r ON r.year = u.year AND r.rhf = u.rhf AND r.hf = u.hf
    GROUP BY GROUPING SETS ((u.year), (u.year, u.rhf), (u.year, u.rhf, u.hf))
) sums
