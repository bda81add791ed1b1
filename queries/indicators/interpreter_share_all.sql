-- id: interpreter_share_all
-- title_nb: Andel kontakter med tolk
-- title_en: Share of contacts with an interpreter
-- unit: share
-- view: provider
-- extract: coding
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Contacts with tolk ÷ contacts.
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN tolk THEN contacts ELSE 0 END) AS numerator,
           sum(contacts) AS denominator
    FROM contact_cube
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
