-- id: education_contacts_rate
-- title_nb: Kontakter med grupperettet pasientopplæring (A0099) per 1 000 innbyggere, alders- og kjønnsstandardisert
-- title_en: Group patient education contacts (A0099) per 1,000 inhabitants, age- and sex-standardised
-- unit: rate
-- view: residence
-- extract: coding
-- method: standardised
-- levels: national, rhf, hf
-- breakdowns: 
-- definition: Contacts with A0099 per 1 000 inhabitants of the patient's catchment area (residence view), directly standardised by age group and sex to the national population of the year, with a 95 % interval.
WITH events AS (
    SELECT year, home_hf AS hf, sex, age_group, sum(contacts) AS d
    FROM contact_cube
    WHERE a0099 AND home_hf IS NOT NULL
    GROUP BY year, home_hf, sex, age_group
)
SELECT s.year, s.rhf, s.hf, '' AS breakdown, s.sex, s.age_group,
       sum(coalesce(e.d, 0)) AS d, sum(s.n) AS n, max(w.w) AS w
FROM catchment_strata s
LEFT JOIN events e ON e.year = s.year AND e.hf = s.hf AND e.sex = s.sex AND e.age_group = s.age_group
JOIN std_weight w ON w.year = s.year AND w.sex = s.sex AND w.age_group = s.age_group
GROUP BY GROUPING SETS ((s.year, s.sex, s.age_group), (s.year, s.rhf, s.sex, s.age_group),
                        (s.year, s.rhf, s.hf, s.sex, s.age_group))
