-- id: pam_change
-- title_nb: Endring i PAM-skår
-- title_en: Change in PAM score
-- unit: mean
-- view: provider
-- extract: evaluation
-- levels: national, rhf, hf
-- breakdowns:
-- definition: Mean of (etter score − for score) over PAM pairs, with intervals mean ± z·sd/√n (sample sd; z = 1.959964 at 95 %, 3.090232 at 99.8 %); a pair is a respondent with both a for and an etter score for the same kurs_id, counted in the year of the etter response; numerator = pairs.
SELECT year, rhf, hf, '' AS breakdown, numerator, NULL AS denominator, value, NULL AS ci_low, NULL AS ci_high, sd
FROM (
    -- The mean and sample sd from exact integer sums of the changes in hundredths (n, Σx, Σx²;
    -- n·Σx² − (Σx)² as DECIMAL(38, 0)): no floating-point sum, whose result would depend on the
    -- order the pairs arrive in.
    SELECT year, rhf, hf, numerator,
           CAST(total AS DOUBLE) / numerator / 100.0 AS value,
           CASE WHEN numerator > 1
                THEN sqrt(CAST(CAST(numerator AS DECIMAL(38, 0)) * squares - CAST(total AS DECIMAL(38, 0)) * total AS DOUBLE)
                          / (CAST(numerator AS DOUBLE) * CAST(numerator - 1 AS DOUBLE))) / 100.0
           END AS sd
    FROM (
        SELECT year, rhf, hf, count(change) AS numerator, sum(change) AS total, sum(change * change) AS squares
        FROM (
            SELECT year, rhf, hf, etter_hundredths - for_hundredths AS change
            FROM unit_pam_pair
        ) pairs
        GROUP BY GROUPING SETS ((year), (year, rhf), (year, rhf, hf))
    ) sums
) cells
