-- Smaller rows for long histories (a nightly fleet adds a thousand rows a night, nearly all of
-- them unchanged answers).
--
-- * Raw answers are stored as a block compressed against a base: a whole earlier answer of the
--   same target and config, kept once in `raw_bases`. Consecutive answers differ only in their
--   RequestId and scan status, so a row keeps a few dozen bytes. `raw_base` NULL means `raw`
--   holds the answer whole (every row recorded before this migration). `raw_sha256` still
--   names the exact bytes, and `audit verify` rebuilds and re-hashes every answer.
-- * `raw_sha256` and `chain_hash` are kept as their 32 bytes rather than 64 hex digits.
-- * `prev_chain` is dropped: it always equals the previous row's `chain_hash` (or the pruning
--   checkpoint's), which is what verification reads.
-- * The unique indexes on `chain_hash` and on (target, moment, raw hash) are dropped: a chain
--   hash is a SHA-256 of content that includes the row id, and recording looks for an
--   identical observation through the (target, moment) index.

-- AUTOINCREMENT: a base id is never given out again, even after pruning, so no reader can
-- unpack an answer against the wrong base.
CREATE TABLE raw_bases (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    bytes BLOB NOT NULL
);

CREATE TABLE snapshots_compact (
    id             INTEGER PRIMARY KEY,
    target_id      INTEGER NOT NULL REFERENCES targets(id),
    observed_at    INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL,
    source         TEXT NOT NULL CHECK (source IN ('fetch', 'import')),
    endpoint       TEXT,
    request_id     TEXT,
    raw_base       INTEGER REFERENCES raw_bases(id),
    raw            BLOB NOT NULL,
    raw_sha256     BLOB NOT NULL CHECK (length(raw_sha256) = 32),
    config_hash    TEXT NOT NULL REFERENCES configs(hash),
    last_scan_time TEXT,
    scan_result    TEXT,
    chain_hash     BLOB NOT NULL CHECK (length(chain_hash) = 32)
);

INSERT INTO snapshots_compact (id, target_id, observed_at, recorded_at, source, endpoint,
        request_id, raw_base, raw, raw_sha256, config_hash, last_scan_time, scan_result, chain_hash)
    SELECT id, target_id, observed_at, recorded_at, source, endpoint, request_id, NULL, raw,
           unhex(raw_sha256), config_hash, last_scan_time, scan_result, unhex(chain_hash)
    FROM snapshots ORDER BY id;

DROP TABLE snapshots;
ALTER TABLE snapshots_compact RENAME TO snapshots;

CREATE INDEX snapshots_by_target_time ON snapshots(target_id, observed_at, id);
