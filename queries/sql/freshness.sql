-- Data freshness per source, region and extract (indicators.md, data quality), computed when it is
-- read — `now()` is the time of the query — from the published `data_quality` table:
-- - newest_delivery: when the newest delivery that fills a period was loaded;
-- - freshness_hours: now − newest_delivery;
-- - months_delivered: how many of the last 12 complete calendar months (the current month excluded)
--   have a loaded delivery.
-- `last_success` per source is in the run history (`runs`, `lms status`, `GET /api/v1/sources`).
CREATE VIEW data_freshness AS
SELECT source, rhf, extract,
       max(loaded_at) AS newest_delivery,
       (date_part('epoch', now()) - date_part('epoch', max(loaded_at))) / 3600.0 AS freshness_hours,
       count(DISTINCT CASE
           WHEN period >= to_char(date_trunc('month', now()) - INTERVAL '12 months', '%Y-%m')
            AND period < to_char(date_trunc('month', now()), '%Y-%m') THEN period END) AS months_delivered
FROM data_quality
WHERE delivery IS NOT NULL
GROUP BY source, rhf, extract
