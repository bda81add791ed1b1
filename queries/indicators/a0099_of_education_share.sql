-- id: a0099_of_education_share
-- title_nb: Andel av opplæringskontaktene med A0099
-- title_en: Share of education contacts coded A0099
-- unit: share
-- view: provider
-- extract: coding
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Contacts with A0099 ÷ education contacts: how much of the education registered meets the ISF criteria.
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN a0099 THEN contacts ELSE 0 END) AS numerator,
           sum(CASE WHEN education THEN contacts ELSE 0 END) AS denominator
    FROM contact_cube
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
