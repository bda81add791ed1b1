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
    -- The first contact is the least of one text per A0099 contact in which the definition's order
    -- is the order of the text: kontaktdato (ISO, fixed width), kontakt_id (NUL escaped as NUL 1 and
    -- ended by NUL NUL, so an id sorts before its extensions, as it does as text), rhf and hf (codes,
    -- ended by NUL), then what the contact says of the person: the age band (one digit) and the area
    -- of residence (empty where unknown: the person is then left out below). min of a text keeps one
    -- string per person and year; first_value ordered by four columns kept four values and a vector
    -- each, three times the memory. Sex comes from the identity number, so it is the person's own.
    SELECT year, sex,
           min(CAST(kontaktdato AS VARCHAR) || replace(kontakt_id, chr(0), chr(0) || chr(1)) || chr(0) || chr(0)
               || rhf || chr(0) || hf || chr(0) || coalesce(CAST(age_band AS VARCHAR), '-') || coalesce(home_key, '')) AS first
    FROM contact
    WHERE a0099
    GROUP BY person, year, sex
),
said AS (
    -- Persons counted by what their first contact says before the lookups, so these join few rows.
    SELECT year, sex, reverse(split_part(reverse(first), chr(0), 1)) AS band_home, count(*) AS persons
    FROM first_contact
    GROUP BY year, sex, reverse(split_part(reverse(first), chr(0), 1))
),
events AS (
    SELECT f.year, h.home_hf AS hf, f.sex, g.age_group, sum(f.persons) AS d
    FROM age_band g
    JOIN (home h JOIN said f ON h.area = substr(f.band_home, 2)) ON CAST(g.age_band AS VARCHAR) = left(f.band_home, 1)
    GROUP BY f.year, h.home_hf, f.sex, g.age_group
)
SELECT s.year, s.rhf, s.hf, '' AS breakdown, s.sex, s.age_group,
       sum(coalesce(e.d, 0)) AS d, sum(s.n) AS n, max(w.w) AS w
FROM catchment_strata s
LEFT JOIN events e ON e.year = s.year AND e.hf = s.hf AND e.sex = s.sex AND e.age_group = s.age_group
JOIN std_weight w ON w.year = s.year AND w.sex = s.sex AND w.age_group = s.age_group
GROUP BY GROUPING SETS ((s.year, s.sex, s.age_group), (s.year, s.rhf, s.sex, s.age_group),
                        (s.year, s.rhf, s.hf, s.sex, s.age_group))
