-- id: sami_area_education_rate
-- title_nb: A0099-kontakter per 1 000 innbyggere i forvaltningsområdet for samisk språk og ellers, standardisert
-- title_en: A0099 contacts per 1,000 inhabitants in the administrative area for Sami languages and elsewhere, standardised
-- unit: rate
-- view: residence
-- extract: coding
-- method: standardised
-- levels: national, rhf
-- breakdowns: area
-- definition: education_contacts_rate for residents of the administrative area for Sami languages (area=sami) and the rest (area=other); no area=sami cell where a unit has no such residents.
WITH events AS (
    SELECT year, home_hf AS hf, CASE WHEN sami_area THEN 'sami' ELSE 'other' END AS area, sex, age_group,
           sum(contacts) AS d
    FROM contact_cube
    WHERE a0099 AND home_hf IS NOT NULL
    GROUP BY year, home_hf, CASE WHEN sami_area THEN 'sami' ELSE 'other' END, sex, age_group
),
s AS (
    SELECT c.year, c.rhf, c.hf, c.area, c.sex, c.age_group, c.n, coalesce(e.d, 0) AS d
    FROM (
        SELECT year, rhf, hf, CASE WHEN sami_area THEN 'sami' ELSE 'other' END AS area, sex, age_group,
               sum(population) AS n
        FROM catchment_population
        WHERE year IN (SELECT DISTINCT year FROM contact_cube)
        GROUP BY year, rhf, hf, CASE WHEN sami_area THEN 'sami' ELSE 'other' END, sex, age_group
    ) c
    LEFT JOIN events e ON e.year = c.year AND e.hf = c.hf AND e.area = c.area AND e.sex = c.sex
                      AND e.age_group = c.age_group
)
SELECT s.year, s.rhf, NULL AS hf, CASE WHEN s.area IS NULL THEN '' ELSE 'area=' || s.area END AS breakdown,
       s.sex, s.age_group, sum(s.d) AS d, sum(s.n) AS n, max(w.w) AS w
FROM s JOIN std_weight w ON w.year = s.year AND w.sex = s.sex AND w.age_group = s.age_group
GROUP BY GROUPING SETS ((s.year, s.sex, s.age_group), (s.year, s.rhf, s.sex, s.age_group),
                        (s.year, s.area, s.sex, s.age_group), (s.year, s.rhf, s.area, s.sex, s.age_group))
