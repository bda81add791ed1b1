-- Shared views the indicator files build on, created in the build session only (never in a session
-- that serves users). Each statement ends with a line holding only `;`.
--
-- Conventions of indicators.md made concrete here, once:
-- - year: the calendar year of startdato (activity), kontaktdato (coding) or dato (evaluation);
-- - residence: the municipality, or for Oslo (0301) the city district; 9999 and Oslo without a
--   district have no catchment (home_hf is null) and are left out of residence figures;
-- - age group from the age at the contact; sex from the identity number (M/F);
-- - evaluation responses deduplicated by the latest-response rule before every evaluation indicator.

-- Course runs with their year.
CREATE VIEW course_run AS
SELECT rhf, hf, CAST(date_part('year', startdato) AS INT) AS year, kurs_id, format, sprak, prioritert_gruppe,
       tolk_tilbudt, samarbeid_kommune, bruker_planlegging, bruker_gjennomforing, bruker_evaluering, avlyst,
       CAST(deltakere_pasient AS BIGINT) AS deltakere_pasient,
       CAST(deltakere_parorende AS BIGINT) AS deltakere_parorende,
       CAST(fullfort AS BIGINT) AS fullfort
FROM activity
;

-- Inhabitants of each HF's catchment area, per year, sex and age group (Oslo by city district).
CREATE VIEW catchment_population AS
SELECT p.year, t.rhf, a.hf, a.area, a.size_class, a.sami_area, p.sex, p.age_group, p.population
FROM population p
JOIN areas a ON a.area = p.area
JOIN health_trusts t ON t.hf = a.hf
;

-- Standard weights w_s: the share of the national population of the year in stratum (age group, sex).
CREATE VIEW std_weight AS
SELECT p.year, p.sex, p.age_group, CAST(sum(p.population) AS DOUBLE) / max(t.total) AS w
FROM population p
JOIN (SELECT year, CAST(sum(population) AS DOUBLE) AS total FROM population GROUP BY year) t ON t.year = p.year
GROUP BY p.year, p.sex, p.age_group
;

-- Weights by age group alone (both sexes), for rates per sex.
CREATE VIEW std_weight_age AS
SELECT year, age_group, sum(w) AS w FROM std_weight GROUP BY year, age_group
;

-- Coded contacts with the flags the indicators count and the patient's residence.
CREATE VIEW contact AS
SELECT c.rhf, c.hf, CAST(date_part('year', c.kontaktdato) AS INT) AS year, c.kontakt_id, c.kontaktdato,
       c.person, c.kjonn AS sex,
       CASE WHEN c.alder < 20 THEN '0-19' WHEN c.alder < 40 THEN '20-39' WHEN c.alder < 60 THEN '40-59'
            WHEN c.alder < 80 THEN '60-79' ELSE '80+' END AS age_group,
       c.tjenesteomrade,
       coalesce(c.tolk, false) AS tolk,
       coalesce(array_has(c.saerkoder, 'A0099'), false) AS a0099,
       coalesce(array_has(c.saerkoder, 'A0099'), false)
         OR coalesce(array_has(c.prosedyrekoder, 'WPCK00'), false)
         OR c.kontakttype = 13 AS education,
       coalesce(array_has(c.prosedyrekoder, 'ZWWA40'), false) AS relatives,
       c.period,
       a.area AS home_area, a.hf AS home_hf, t.rhf AS home_rhf, a.size_class, a.sami_area
FROM coding c
LEFT JOIN areas a ON a.area = CASE WHEN c.bostedskommune = '0301' THEN c.bydel ELSE c.bostedskommune END
LEFT JOIN health_trusts t ON t.hf = a.hf
;

-- The units (year, rhf, hf) with at least one evaluation row: every evaluation indicator has a
-- cell for each of them, whatever the latest-response rule leaves.
CREATE VIEW evaluation_unit AS
SELECT DISTINCT CAST(date_part('year', dato) AS INT) AS year, rhf, hf FROM evaluation
;

-- Evaluation responses after the latest-response rule: a respondent (rhf, hf, kurs_id, deltaker)
-- keeps, per maletidspunkt, only the latest response by dato, then by the greatest svar_id; a
-- response without deltaker is a respondent of its own.
CREATE VIEW response AS
SELECT rhf, hf, year, kurs_id, svar_id, deltaker, maletidspunkt, dato, pam_score, tilfredshet, nytte, anbefale
FROM (
    SELECT e.*, CAST(date_part('year', e.dato) AS INT) AS year,
           row_number() OVER (PARTITION BY e.rhf, e.hf, e.kurs_id, e.deltaker, e.maletidspunkt
                              ORDER BY e.dato DESC, e.svar_id DESC) AS latest
    FROM evaluation e
) r
WHERE deltaker IS NULL OR latest = 1
;

-- PAM pairs: a respondent with both a `for` and an `etter` score for the same course run, in the
-- year of the `etter` response. Scores in hundredths of a point (exact), tenths rounded half up.
CREATE VIEW pam_pair AS
SELECT a.rhf, a.hf, a.year,
       CAST(f.pam_score * 100 AS BIGINT) AS for_hundredths,
       CAST(a.pam_score * 100 AS BIGINT) AS etter_hundredths,
       CASE WHEN CAST(f.pam_score * 100 AS BIGINT) <= 4700 THEN 1 WHEN CAST(f.pam_score * 100 AS BIGINT) <= 5510 THEN 2
            WHEN CAST(f.pam_score * 100 AS BIGINT) <= 7240 THEN 3 ELSE 4 END AS for_level,
       CASE WHEN CAST(a.pam_score * 100 AS BIGINT) <= 4700 THEN 1 WHEN CAST(a.pam_score * 100 AS BIGINT) <= 5510 THEN 2
            WHEN CAST(a.pam_score * 100 AS BIGINT) <= 7240 THEN 3 ELSE 4 END AS etter_level
FROM response a
JOIN response f
  ON f.rhf = a.rhf AND f.hf = a.hf AND f.kurs_id = a.kurs_id AND f.deltaker = a.deltaker
WHERE a.maletidspunkt = 'etter' AND f.maletidspunkt = 'for'
  AND a.pam_score IS NOT NULL AND f.pam_score IS NOT NULL
;

-- The coded contacts counted by every dimension the indicators use (one scan of the coding table;
-- every coding indicator but the persons rate reads this instead of the rows).
CREATE VIEW contact_cube AS
SELECT rhf, hf, year, tjenesteomrade, sex, age_group, tolk, a0099, education, relatives,
       home_hf, home_rhf, size_class, sami_area, count(*) AS contacts
FROM contact
GROUP BY rhf, hf, year, tjenesteomrade, sex, age_group, tolk, a0099, education, relatives,
         home_hf, home_rhf, size_class, sami_area
;
