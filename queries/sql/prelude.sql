-- Shared views the indicator files build on, created in the build session only (never in a session
-- that serves users). Each statement ends with a line holding only `;`.
--
-- Conventions of indicators.md made concrete here, once:
-- - year: the calendar year of startdato (activity), kontaktdato (coding) or dato (evaluation);
-- - residence: the municipality on 2024 borders (`bostedskommune_2024`, which the load maps from the
--   code valid on the contact date; files loaded before it existed hold only `bostedskommune`), or
--   for Oslo (0301) the city district (`home_key`, looked up in `home`); 9999 and Oslo without a
--   district have no catchment (no `home` row, home_hf null) and are left out of residence figures;
--   the municipalities collaborated with likewise on 2024 borders;
-- - age group from the age at the contact (as a band until aggregated); sex from the identity number (M/F);
-- - evaluation responses deduplicated by the latest-response rule before every evaluation indicator;
-- - joins run in the order written (the build turns DataFusion's reordering off): the left side is
--   the one a hash join holds in memory, so the smaller side comes first.

-- Course runs with their year.
CREATE VIEW course_run AS
SELECT rhf, hf, CAST(date_part('year', startdato) AS INT) AS year, kurs_id, format, sprak, prioritert_gruppe,
       tolk_tilbudt, coalesce(samarbeid_kommune_2024, samarbeid_kommune) AS samarbeid_kommune, bruker_planlegging, bruker_gjennomforing, bruker_evaluering, avlyst,
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

-- Weights by age group alone (both sexes), for rates per sex: from the integer counts, like
-- std_weight (no floating-point sum, whose result could depend on the order of its terms).
CREATE VIEW std_weight_age AS
SELECT p.year, p.age_group, CAST(sum(p.population) AS DOUBLE) / max(t.total) AS w
FROM population p
JOIN (SELECT year, CAST(sum(population) AS DOUBLE) AS total FROM population GROUP BY year) t ON t.year = p.year
GROUP BY p.year, p.age_group
;

-- Where a patient lives: the area (municipality, or Oslo's city district) with its catchment HF
-- and region, size class and Sami-area membership.
CREATE VIEW home AS
SELECT a.area, a.hf AS home_hf, t.rhf AS home_rhf, a.size_class, a.sami_area
FROM areas a
JOIN health_trusts t ON t.hf = a.hf
;

-- The age groups of the population table by band (age / 20, 80 and over in the last): contacts
-- carry the band, a number, and get the label only after they are aggregated.
CREATE VIEW age_band AS
SELECT * FROM (VALUES (0, '0-19'), (1, '20-39'), (2, '40-59'), (3, '60-79'), (4, '80+')) AS t(age_band, age_group)
;

-- Coded contacts with the flags the indicators count. A flag is true where the contact has what
-- it names, and false or null where not (null where the code list or `tolk` is missing): readers
-- take it with `WHERE` or `CASE WHEN`, which read null as not. Without `coalesce(…, false)` on each
-- flag the coding cube is about 0.3 s faster over 10.5 million contacts (docs/benchmarks.md), with
-- the same flags on every row. `home_key` is the area of the patient's
-- residence: the municipality, or for Oslo the city district (null without one); it is joined to
-- `home` only after aggregating, so the join runs over few rows. `age_band` as in `age_band`.
CREATE VIEW contact AS
SELECT rhf, hf, CAST(date_part('year', kontaktdato) AS INT) AS year, kontakt_id, kontaktdato,
       person, kjonn AS sex,
       least(alder / 20, 4) AS age_band,
       tjenesteomrade,
       tolk,
       array_has(saerkoder, 'A0099') AS a0099,
       array_has(saerkoder, 'A0099') OR array_has(prosedyrekoder, 'WPCK00') OR kontakttype = 13 AS education,
       array_has(prosedyrekoder, 'ZWWA40') AS relatives,
       period,
       CASE WHEN bostedskommune = '0301' THEN bydel ELSE coalesce(bostedskommune_2024, bostedskommune) END AS home_key
FROM coding
;

-- The units (year, rhf, hf) with at least one evaluation row: every evaluation indicator has a
-- cell for each of them, whatever the latest-response rule leaves.
CREATE VIEW evaluation_unit AS
SELECT DISTINCT CAST(date_part('year', dato) AS INT) AS year, rhf, hf FROM evaluation
;

-- Evaluation responses after the latest-response rule: a respondent (rhf, hf, kurs_id, deltaker)
-- keeps, per maletidspunkt, only the latest response by dato, then by the greatest svar_id; a
-- response without deltaker is a respondent of its own. One aggregation, no join (the joins this
-- once was each held every respondent in a hash table): the greatest of one text per response in
-- which that order is the order of the text, `latest`: dato (ISO, fixed width), then svar_id with
-- NUL escaped as NUL 1 and ended by NUL NUL (so an id sorts before its extensions, as it does as
-- text), then the response's answers as eight digits: pam_score in hundredths + 1, tilfredshet,
-- nytte and anbefale (2 true, 1 false) as the last three digits, 0 for a missing answer. max of a
-- text keeps one string per respondent; first_value ordered by (dato, svar_id) kept a vector of
-- values per respondent, three times the memory. (svar_id only decides; no indicator reads it.)
CREATE VIEW response AS
WITH latest AS (
    SELECT rhf, hf, kurs_id, deltaker, maletidspunkt,
           max(CAST(dato AS VARCHAR) || replace(svar_id, chr(0), chr(0) || chr(1)) || chr(0) || chr(0)
               || lpad(CAST(((coalesce(CAST(pam_score * 100 AS BIGINT) + 1, 0) * 10 + coalesce(tilfredshet, 0)) * 10
                              + coalesce(nytte, 0)) * 10
                             + CASE WHEN anbefale THEN 2 WHEN NOT anbefale THEN 1 ELSE 0 END AS VARCHAR), 8, '0')) AS latest
    FROM evaluation
    WHERE deltaker IS NOT NULL
    GROUP BY rhf, hf, kurs_id, deltaker, maletidspunkt
),
answered AS (
    SELECT rhf, hf, kurs_id, deltaker, maletidspunkt, CAST(left(latest, 10) AS DATE) AS dato,
           CAST(right(latest, 8) AS BIGINT) AS answers
    FROM latest
)
SELECT rhf, hf, CAST(date_part('year', dato) AS INT) AS year, kurs_id, deltaker, maletidspunkt, dato,
       CAST(CAST(nullif(answers / 1000, 0) - 1 AS DECIMAL(9, 2)) / 100 AS DECIMAL(7, 2)) AS pam_score,
       CAST(nullif(answers / 100 % 10, 0) AS INT) AS tilfredshet,
       CAST(nullif(answers / 10 % 10, 0) AS INT) AS nytte,
       CASE answers % 10 WHEN 2 THEN true WHEN 1 THEN false END AS anbefale
FROM answered
UNION ALL
SELECT rhf, hf, CAST(date_part('year', dato) AS INT) AS year, kurs_id, deltaker,
       maletidspunkt, dato, pam_score, tilfredshet, nytte, anbefale
FROM evaluation
WHERE deltaker IS NULL
;

-- PAM pairs: a respondent with both a `for` and an `etter` score for the same course run, in the
-- year of the `etter` response. Scores in hundredths of a point (exact), tenths rounded half up.
-- After the latest-response rule a respondent has at most one response of each maletidspunkt, so
-- one aggregation per respondent finds the pair (no self-join holding every respondent in memory).
CREATE VIEW pam_pair AS
SELECT rhf, hf, year, for_hundredths, etter_hundredths,
       CASE WHEN for_hundredths <= 4700 THEN 1 WHEN for_hundredths <= 5510 THEN 2
            WHEN for_hundredths <= 7240 THEN 3 ELSE 4 END AS for_level,
       CASE WHEN etter_hundredths <= 4700 THEN 1 WHEN etter_hundredths <= 5510 THEN 2
            WHEN etter_hundredths <= 7240 THEN 3 ELSE 4 END AS etter_level
FROM (
    SELECT rhf, hf,
           max(CASE WHEN maletidspunkt = 'etter' THEN year END) AS year,
           max(CASE WHEN maletidspunkt = 'for' THEN CAST(pam_score * 100 AS BIGINT) END) AS for_hundredths,
           max(CASE WHEN maletidspunkt = 'etter' THEN CAST(pam_score * 100 AS BIGINT) END) AS etter_hundredths
    FROM response
    WHERE deltaker IS NOT NULL AND maletidspunkt IN ('for', 'etter') AND pam_score IS NOT NULL
    GROUP BY rhf, hf, kurs_id, deltaker
) p
WHERE for_hundredths IS NOT NULL AND etter_hundredths IS NOT NULL
;

-- The coded contacts counted by every dimension the indicators use: one scan of the coding table,
-- aggregated on narrow keys before the region, age group and residence are looked up: the HF
-- without its region, the age band, and the four flags as the bits of one number (tolk 1, a0099 2,
-- education 4, relatives 8), which groups faster than four columns. Every coding indicator but the
-- persons rate reads this instead of the rows. The lookups are written with the small reference
-- table first, the side a hash join holds in memory: the aggregated contacts grow with the lake
-- (written the other way round, their hash table was 118 MB at four years of ten times the national
-- volume), the reference tables do not.
CREATE VIEW contact_cube AS
SELECT t.rhf, k.hf, k.year, k.tjenesteomrade, k.sex, g.age_group,
       k.flags % 2 = 1 AS tolk, k.flags / 2 % 2 = 1 AS a0099, k.flags / 4 % 2 = 1 AS education,
       k.flags / 8 = 1 AS relatives,
       h.home_hf, h.home_rhf, h.size_class, h.sami_area, sum(k.contacts) AS contacts
FROM age_band g
JOIN (home h RIGHT JOIN (health_trusts t JOIN (
    SELECT hf, year, tjenesteomrade, sex, age_band, home_key,
           CASE WHEN tolk THEN 1 ELSE 0 END + CASE WHEN a0099 THEN 2 ELSE 0 END
             + CASE WHEN education THEN 4 ELSE 0 END + CASE WHEN relatives THEN 8 ELSE 0 END AS flags,
           count(*) AS contacts
    FROM contact
    GROUP BY hf, year, tjenesteomrade, sex, age_band, home_key, flags
) k ON t.hf = k.hf) ON h.area = k.home_key) ON g.age_band = k.age_band
GROUP BY t.rhf, k.hf, k.year, k.tjenesteomrade, k.sex, g.age_group, k.flags,
         h.home_hf, h.home_rhf, h.size_class, h.sami_area
;

-- Inhabitants of each catchment area by stratum (sex, age group), for the years with coded
-- contacts: the denominators of the residence-view rates.
CREATE VIEW catchment_strata AS
SELECT year, rhf, hf, sex, age_group, sum(population) AS n
FROM catchment_population
WHERE year IN (SELECT DISTINCT year FROM contact_cube)
GROUP BY year, rhf, hf, sex, age_group
;

-- Every evaluation unit with its PAM pairs (a unit without pairs has one row of nulls), so the
-- pair indicators have a cell for each unit.
CREATE VIEW unit_pam_pair AS
SELECT u.year, u.rhf, u.hf, p.for_hundredths, p.etter_hundredths, p.for_level, p.etter_level
FROM evaluation_unit u
LEFT JOIN pam_pair p ON p.year = u.year AND p.rhf = u.rhf AND p.hf = u.hf
;
