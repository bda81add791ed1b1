-- id: education_rate_by_size_class
-- title_nb: A0099-kontakter per 1 000 innbyggere etter kommunestørrelse, standardisert
-- title_en: A0099 contacts per 1,000 inhabitants by municipality size class, standardised
-- unit: rate
-- view: residence
-- extract: coding
-- method: standardised
-- levels: national, rhf
-- breakdowns: size_class
-- definition: education_contacts_rate for the residents of municipalities of size class 1 (50 000 inhabitants or more), 2 (20 000–49 999), 3 (5 000–19 999) and 4 (under 5 000); Oslo's districts are size class 1.
WITH events AS (
    SELECT year, home_hf AS hf, size_class, sex, age_group, sum(contacts) AS d
    FROM contact_cube
    WHERE a0099 AND home_hf IS NOT NULL
    GROUP BY year, home_hf, size_class, sex, age_group
),
s AS (
    SELECT year, rhf, hf, size_class, sex, age_group, sum(population) AS n
    FROM catchment_population
    WHERE year IN (SELECT DISTINCT year FROM contact_cube)
    GROUP BY year, rhf, hf, size_class, sex, age_group
)
SELECT s.year, s.rhf, NULL AS hf,
       CASE WHEN s.size_class IS NULL THEN '' ELSE 'size_class=' || CAST(s.size_class AS VARCHAR) END AS breakdown,
       s.sex, s.age_group, sum(coalesce(e.d, 0)) AS d, sum(s.n) AS n, max(w.w) AS w
FROM s
LEFT JOIN events e ON e.year = s.year AND e.hf = s.hf AND e.size_class = s.size_class AND e.sex = s.sex
                  AND e.age_group = s.age_group
JOIN std_weight w ON w.year = s.year AND w.sex = s.sex AND w.age_group = s.age_group
GROUP BY GROUPING SETS ((s.year, s.sex, s.age_group), (s.year, s.rhf, s.sex, s.age_group),
                        (s.year, s.size_class, s.sex, s.age_group), (s.year, s.rhf, s.size_class, s.sex, s.age_group))
