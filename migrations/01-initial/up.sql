-- The history of one setting for one or many targets.
-- Times are Unix milliseconds, UTC.

CREATE TABLE targets (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- Each distinct normalized config once, named by the SHA-256 of its canonical JSON.
CREATE TABLE configs (
    hash          TEXT PRIMARY KEY CHECK (length(hash) = 64),
    canonical     TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Every observation. `id` is the order of recording, which is the order of the hash chain;
-- `observed_at` is when the answer was seen (imports may record older moments later).
CREATE TABLE snapshots (
    id             INTEGER PRIMARY KEY,
    target_id      INTEGER NOT NULL REFERENCES targets(id),
    observed_at    INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL,
    source         TEXT NOT NULL CHECK (source IN ('fetch', 'import')),
    endpoint       TEXT,
    request_id     TEXT,
    raw            BLOB NOT NULL,
    raw_sha256     TEXT NOT NULL,
    config_hash    TEXT NOT NULL REFERENCES configs(hash),
    last_scan_time TEXT,
    scan_result    TEXT,
    prev_chain     TEXT NOT NULL,
    chain_hash     TEXT NOT NULL UNIQUE
);

CREATE INDEX snapshots_by_target_time ON snapshots(target_id, observed_at, id);
-- The same saved answer imported twice for the same moment is one observation.
CREATE UNIQUE INDEX snapshots_once ON snapshots(target_id, observed_at, raw_sha256);

-- Top-level fields outside the documented set, and where each was first seen.
CREATE TABLE seen_fields (
    target_id      INTEGER NOT NULL REFERENCES targets(id),
    field          TEXT NOT NULL,
    first_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    PRIMARY KEY (target_id, field)
) WITHOUT ROWID;
