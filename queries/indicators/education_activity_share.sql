-- id: education_activity_share
-- title_nb: Andel kontakter med pasientopplæring
-- title_en: Share of contacts with patient education
-- unit: share
-- view: provider
-- extract: coding
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Education contacts ÷ contacts; an education contact has A0099, or procedure WPCK00, or kontakttype 13.
SELECT year, rhf, hf, breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN CAST(numerator AS DOUBLE) / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM (
    SELECT year, rhf, hf, '' AS breakdown,
           sum(CASE WHEN education THEN contacts ELSE 0 END) AS numerator,
           sum(contacts) AS denominator
    FROM contact_cube
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
