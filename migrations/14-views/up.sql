-- Views for reading the history in SQL (`sqlite3 -readonly`, a notebook, a BI tool): read-only
-- conveniences over the tables, which stay the record. Nothing in the tool reads them, and the
-- chain does not cover them: `audit verify` is what proves the rows they read.
--
-- Times are as stored: Unix milliseconds, UTC. Values from configs and changes are JSON text
-- (`"vul"`, `true`, `[...]`) so that `true` and `"true"` stay apart; `enable` is 1 or 0.
-- Written for SQLite 3.25 and later (window functions; no `->` operator), so that an older
-- `sqlite3` can still open the file. A later migration that rebuilds a table these read must
-- drop and create again the views that read it.

-- A row a target: its newest snapshot (by observed time, then recording order).
CREATE VIEW current_state AS
SELECT t.name AS target,
       s.id AS snapshot_id,
       s.observed_at,
       s.account,
       s.config_hash,
       json_extract(c.canonical, '$.Enable') AS enable,
       json_extract(c.canonical, '$.ScanType') AS scan_types
FROM targets t
JOIN snapshots s ON s.id = (
    SELECT n.id FROM snapshots n WHERE n.target_id = t.id
    ORDER BY n.observed_at DESC, n.id DESC LIMIT 1)
JOIN configs c ON c.hash = s.config_hash;

-- A row for each change of a field between two consecutive snapshots of a target whose configs
-- differ: `observed_at` is the later snapshot's time (the change happened in between).
CREATE VIEW drift_timeline AS
SELECT t.name AS target,
       e.at AS observed_at,
       e.from_snapshot,
       e.to_snapshot,
       json_extract(j.value, '$.path') AS field,
       json_extract(j.value, '$.kind') AS kind,
       CASE json_type(j.value, '$.old')
           WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null'
           WHEN 'text' THEN json_quote(json_extract(j.value, '$.old'))
           ELSE CAST(json_extract(j.value, '$.old') AS TEXT)
       END AS old,
       CASE json_type(j.value, '$.new')
           WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null'
           WHEN 'text' THEN json_quote(json_extract(j.value, '$.new'))
           ELSE CAST(json_extract(j.value, '$.new') AS TEXT)
       END AS new
FROM change_events e
JOIN targets t ON t.id = e.target_id
JOIN json_each(e.changes) j;

-- A row a target and UTC day: the newest check kept for the day's last snapshot, and its
-- failing rules by severity. As decided then, with the policy files of then: a stored check is
-- not covered by the chain. A day whose last snapshot has no kept check has no row.
CREATE VIEW compliance_by_day AS
WITH daily AS (
    SELECT s.target_id, s.id, date(s.observed_at / 1000, 'unixepoch') AS day,
           row_number() OVER (
               PARTITION BY s.target_id, date(s.observed_at / 1000, 'unixepoch')
               ORDER BY s.observed_at DESC, s.id DESC) AS nth
    FROM snapshots s
),
kept AS (
    SELECT c.*, row_number() OVER (
               PARTITION BY c.snapshot_id
               ORDER BY c.checked_at DESC, c.policy_digest DESC) AS nth
    FROM check_results c
)
SELECT t.name AS target,
       d.day,
       d.id AS snapshot_id,
       k.checked_at,
       k.policy_digest,
       k.fail AS failures,
       coalesce(f.critical, 0) AS critical,
       coalesce(f.high, 0) AS high,
       coalesce(f.medium, 0) AS medium,
       coalesce(f.low, 0) AS low,
       coalesce(f.info, 0) AS info,
       k.waived,
       k.error AS errors
FROM daily d
JOIN kept k ON k.snapshot_id = d.id AND k.nth = 1
JOIN targets t ON t.id = d.target_id
LEFT JOIN (
    SELECT b.id,
           sum(CASE json_extract(r.value, '$.severity') WHEN 'critical' THEN 1 ELSE 0 END) AS critical,
           sum(CASE json_extract(r.value, '$.severity') WHEN 'high' THEN 1 ELSE 0 END) AS high,
           sum(CASE json_extract(r.value, '$.severity') WHEN 'medium' THEN 1 ELSE 0 END) AS medium,
           sum(CASE json_extract(r.value, '$.severity') WHEN 'low' THEN 1 ELSE 0 END) AS low,
           sum(CASE json_extract(r.value, '$.severity') WHEN 'info' THEN 1 ELSE 0 END) AS info
    FROM check_documents b
    JOIN json_each(b.body, '$.results') r
    WHERE json_extract(r.value, '$.status') = 'fail'
    GROUP BY b.id
) f ON f.id = k.document
WHERE d.nth = 1;

-- A row a target: when it was last observed and how long ago, by the reader's clock (whole
-- seconds). Which age is stale is the reader's choice: filter on `age_seconds`. A target with
-- no snapshot left has NULL in both.
CREATE VIEW stale_targets AS
SELECT t.name AS target,
       max(s.observed_at) AS last_observed_at,
       CAST(strftime('%s', 'now') AS INTEGER) - max(s.observed_at) / 1000 AS age_seconds
FROM targets t
LEFT JOIN snapshots s ON s.target_id = t.id
GROUP BY t.id;
