-- id: a0099_share
-- title_nb: Andel kontakter med særkode A0099
-- title_en: Share of contacts coded A0099 (group patient education)
-- unit: share
-- view: provider
-- extract: coding
-- levels: national, rhf, hf
-- breakdowns: tjenesteomrade
-- definition: Contacts with A0099 among saerkoder ÷ contacts; per tjenesteomrade (somatikk, psykisk_helse, rus) the same among that service area's contacts.
WITH base AS (
    SELECT year, rhf, hf, tjenesteomrade, sum(contacts) AS contacts,
           sum(CASE WHEN a0099 THEN contacts ELSE 0 END) AS a0099
    FROM contact_cube
    GROUP BY year, rhf, hf, tjenesteomrade
)
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown, sum(a0099) AS numerator, sum(contacts) AS denominator
    FROM base
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
    UNION ALL
    SELECT year, rhf, hf, 'tjenesteomrade=' || v.value AS breakdown,
           sum(CASE WHEN tjenesteomrade = v.value THEN a0099 ELSE 0 END) AS numerator,
           sum(CASE WHEN tjenesteomrade = v.value THEN contacts ELSE 0 END) AS denominator
    FROM (VALUES ('somatikk'), ('psykisk_helse'), ('rus')) AS v(value) CROSS JOIN base
    GROUP BY GROUPING SETS ((year, v.value), (year, rhf, v.value), (year, rhf, hf, v.value))
) cells
