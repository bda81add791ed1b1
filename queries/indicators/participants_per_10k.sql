-- id: participants_per_10k
-- title_nb: Deltakere per 10 000 innbyggere i opptaksområdet
-- title_en: Participants per 10,000 inhabitants of the catchment area
-- unit: rate
-- view: provider
-- extract: activity
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Participants ÷ population of the provider's catchment area × 10 000. A region counts the participants of all its HFs (those without a catchment area too) over the population of its catchment areas; national uses the whole population; an HF without a catchment area has no cell.
WITH part AS (
    SELECT year, rhf, hf,
           sum(CASE WHEN avlyst THEN 0 ELSE deltakere_pasient + deltakere_parorende END) AS p
    FROM course_run
    GROUP BY year, rhf, hf
),
pop_hf AS (SELECT year, hf, sum(population) AS n FROM catchment_population GROUP BY year, hf),
pop_rhf AS (SELECT year, rhf, sum(population) AS n FROM catchment_population GROUP BY year, rhf),
pop_all AS (SELECT year, sum(population) AS n FROM population GROUP BY year),
cells AS (
    SELECT part.year, part.rhf, part.hf, part.p AS numerator, pop_hf.n AS denominator
    FROM part JOIN pop_hf ON pop_hf.year = part.year AND pop_hf.hf = part.hf
    UNION ALL
    SELECT r.year, r.rhf, NULL AS hf, r.p, pop_rhf.n
    FROM (SELECT year, rhf, sum(p) AS p FROM part GROUP BY year, rhf) r
    JOIN pop_rhf ON pop_rhf.year = r.year AND pop_rhf.rhf = r.rhf
    UNION ALL
    SELECT a.year, NULL AS rhf, NULL AS hf, a.p, pop_all.n
    FROM (SELECT year, sum(p) AS p FROM part GROUP BY year) a
    JOIN pop_all ON pop_all.year = a.year
)
SELECT year, rhf, hf, '' AS breakdown, numerator, denominator,
       CASE WHEN denominator > 0 THEN 10000.0 * numerator / denominator END AS value,
       NULL AS ci_low, NULL AS ci_high
FROM cells
