-- id: pam_change
-- title_nb: Endring i PAM-skår
-- title_en: Change in PAM score
-- unit: mean
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Mean of (etter score − for score) over PAM pairs, with 95 % interval mean ± 1.96·sd/√n (sample sd); a pair is a respondent with both a for and an etter score for the same kurs_id, counted in the year of the etter response; numerator = pairs.
SELECT year, rhf, hf, '' AS breakdown, numerator, NULL AS denominator, value,
       value - 1.96 * sd / sqrt(numerator) AS ci_low, value + 1.96 * sd / sqrt(numerator) AS ci_high
FROM (
    SELECT year, rhf, hf, count(change) AS numerator, avg(change) AS value, stddev_samp(change) AS sd
    FROM (
        SELECT year, rhf, hf, CAST(etter_hundredths - for_hundredths AS DOUBLE) / 100.0 AS change
        FROM unit_pam_pair
    ) pairs
    GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
) cells
