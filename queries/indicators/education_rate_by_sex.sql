-- id: education_rate_by_sex
-- title_nb: A0099-kontakter per 1 000 innbyggere etter kjønn, aldersstandardisert
-- title_en: A0099 contacts per 1,000 inhabitants by sex, age-standardised
-- unit: rate
-- view: residence
-- extract: coding
-- method: standardised
-- levels: national, rhf, hf
-- breakdowns: sex
-- definition: Per sex (sex=M, sex=F): A0099 contacts per 1 000 inhabitants of that sex, standardised by age group with the weights w_a of the national population of both sexes; the total cell is education_contacts_rate.
WITH events AS (
    SELECT year, home_hf AS hf, sex, age_group, sum(contacts) AS d
    FROM contact_cube
    WHERE a0099 AND home_hf IS NOT NULL
    GROUP BY year, home_hf, sex, age_group
),
s AS (
    SELECT c.year, c.rhf, c.hf, c.sex, c.age_group, c.n, coalesce(e.d, 0) AS d
    FROM catchment_strata c
    LEFT JOIN events e ON e.year = c.year AND e.hf = c.hf AND e.sex = c.sex AND e.age_group = c.age_group
)
SELECT s.year, s.rhf, s.hf, '' AS breakdown, s.sex, s.age_group, sum(s.d) AS d, sum(s.n) AS n, max(w.w) AS w
FROM s JOIN std_weight w ON w.year = s.year AND w.sex = s.sex AND w.age_group = s.age_group
GROUP BY GROUPING SETS ((s.year, s.sex, s.age_group), (s.year, s.rhf, s.sex, s.age_group),
                        (s.year, s.rhf, s.hf, s.sex, s.age_group))
UNION ALL
SELECT s.year, s.rhf, s.hf, 'sex=' || s.sex AS breakdown, s.sex, s.age_group, sum(s.d) AS d, sum(s.n) AS n, max(w.w) AS w
FROM s JOIN std_weight_age w ON w.year = s.year AND w.age_group = s.age_group
GROUP BY GROUPING SETS ((s.year, s.sex, s.age_group), (s.year, s.rhf, s.sex, s.age_group),
                        (s.year, s.rhf, s.hf, s.sex, s.age_group))
