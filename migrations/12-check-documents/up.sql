-- A check's document is its own part (schema, target, snapshot) and the rest: the policy files,
-- each rule's result and the counts. The rest is the same night after night for a target whose
-- config did not change, and often across a fleet, so each distinct one is stored once, by its
-- SHA-256, and every check that gave it points at it. Kept whole, a check's JSON was 8 KB and
-- more a target and a night: twenty times the snapshot it judged. The rows already kept are
-- moved by the migration's code, which splits each document the same way.
CREATE TABLE check_documents (
    id      INTEGER PRIMARY KEY,
    sha256  BLOB NOT NULL UNIQUE CHECK (length(sha256) = 32),
    body    TEXT NOT NULL
);

CREATE TABLE check_results_shared (
    snapshot_id    INTEGER NOT NULL REFERENCES snapshots(id),
    policy_digest  TEXT NOT NULL,
    checked_at     INTEGER NOT NULL,
    pass           INTEGER NOT NULL,
    fail           INTEGER NOT NULL,
    waived         INTEGER NOT NULL,
    error          INTEGER NOT NULL,
    head           TEXT NOT NULL,
    document       INTEGER NOT NULL REFERENCES check_documents(id),
    PRIMARY KEY (snapshot_id, policy_digest)
) WITHOUT ROWID;
