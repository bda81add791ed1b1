-- id: relatives_education_share
-- title_nb: Andel A0099-kontakter gitt til pårørende
-- title_en: Share of A0099 contacts given to relatives
-- unit: share
-- view: provider
-- extract: coding
-- levels: national, rhf, hf
-- breakdowns:
-- definition: A0099 contacts with procedure ZWWA40 ÷ A0099 contacts.
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN a0099 AND relatives THEN contacts ELSE 0 END) AS numerator,
           sum(CASE WHEN a0099 THEN contacts ELSE 0 END) AS denominator
    FROM contact_cube
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
