-- The journal: what people decided about a target's task (an approved baseline, an applied
-- restore), kept inside the history's trust. Each entry is chained to the one before it:
-- `hash` is sha256("tcss-audit/journal/v1\n" + previous entry's hash in hex, or 64 zeros for
-- the first + "\n" + the entry's canonical JSON). Every snapshot recorded after an entry links
-- the newest entry's hash (`snapshots.journal_id` names it; the snapshot's chain link carries
-- the hash), so an entry cannot be altered, removed or reordered without breaking the snapshot
-- chain from the next snapshot on. Entries are never pruned.
--
-- kind 'baseline': `snapshot` is the approved snapshot, `config_hash` its config, `reason` why.
-- kind 'restore': `snapshot` is the observation recorded after the Update, `config_hash` the
-- config restored to, `detail` the plan and the outcome.
CREATE TABLE journal (
    id          INTEGER PRIMARY KEY,
    target_id   INTEGER NOT NULL REFERENCES targets(id),
    kind        TEXT NOT NULL CHECK (kind IN ('baseline', 'restore')),
    at          INTEGER NOT NULL,
    by_whom     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    snapshot    INTEGER,
    config_hash TEXT NOT NULL,
    detail      TEXT NOT NULL,
    hash        BLOB NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX journal_by_target ON journal (target_id, kind, id);

ALTER TABLE snapshots ADD COLUMN journal_id INTEGER;
