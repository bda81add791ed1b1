-- id: education_persons_rate
-- title_nb: Personer med grupperettet pasientopplæring (A0099) per 1 000 innbyggere, alders- og kjønnsstandardisert
-- title_en: Persons with group patient education (A0099) per 1,000 inhabitants, age- and sex-standardised
-- unit: rate
-- view: residence
-- extract: coding
-- method: standardised
-- levels: national, rhf, hf
-- breakdowns: 
-- definition: As education_contacts_rate, counting persons: a person counts once a year, in the area and age group of their first A0099 contact that year (by kontaktdato, then kontakt_id, then rhf and hf).
WITH first_contact AS (
    -- One ordered aggregate rather than a row_number window (no sort of every A0099 contact by
    -- person), over the residence and age band of the contact joined in one text: one ordering pass
    -- instead of two. Sex comes from the identity number, so it is the person's own. A contact with
    -- no known residence gives null, and the person is left out below.
    SELECT year, sex,
           first_value(home_key || ' ' || CAST(age_band AS VARCHAR) ORDER BY kontaktdato, kontakt_id, rhf, hf) AS home_age
    FROM contact
    WHERE a0099
    GROUP BY person, year, sex
),
events AS (
    SELECT f.year, h.home_hf AS hf, f.sex, g.age_group, count(*) AS d
    FROM first_contact f
    JOIN home h ON h.area = split_part(f.home_age, ' ', 1)
    JOIN age_band g ON g.age_band = CAST(split_part(f.home_age, ' ', 2) AS INT)
    GROUP BY f.year, h.home_hf, f.sex, g.age_group
)
SELECT s.year, s.rhf, s.hf, '' AS breakdown, s.sex, s.age_group,
       sum(coalesce(e.d, 0)) AS d, sum(s.n) AS n, max(w.w) AS w
FROM catchment_strata s
LEFT JOIN events e ON e.year = s.year AND e.hf = s.hf AND e.sex = s.sex AND e.age_group = s.age_group
JOIN std_weight w ON w.year = s.year AND w.sex = s.sex AND w.age_group = s.age_group
GROUP BY GROUPING SETS ((s.year, s.sex, s.age_group), (s.year, s.rhf, s.sex, s.age_group),
                        (s.year, s.rhf, s.hf, s.sex, s.age_group))
