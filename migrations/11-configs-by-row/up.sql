-- Configs in a table with rowids, so that their hashes have an index of their own. Every
-- snapshot recorded checks that its config is stored. Without rowids, the hash and the canonical
-- text (most of a kilobyte) shared one tree, whose leaves hold a few configs each: at fleet scale
-- each check read a leaf of its own, one page a target and night. The hash index holds about
-- fifty hashes a page, and a year of ten thousand targets' configs fits in a few megabytes of
-- cache. The columns, their checks and the key are the same.
CREATE TABLE configs_by_row (
    hash          TEXT PRIMARY KEY CHECK (length(hash) = 64),
    canonical     TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL
);

INSERT INTO configs_by_row (hash, canonical, first_seen_at)
    SELECT hash, canonical, first_seen_at FROM configs ORDER BY first_seen_at, hash;

DROP TABLE configs;
ALTER TABLE configs_by_row RENAME TO configs;
