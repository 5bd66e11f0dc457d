-- Policy results stored with the snapshot they judged, so compliance over time can be shown
-- from what was decided then, with the policy files (by hash) that decided it.
CREATE TABLE check_results (
    snapshot_id    INTEGER NOT NULL REFERENCES snapshots(id),
    policy_digest  TEXT NOT NULL,
    checked_at     INTEGER NOT NULL,
    pass           INTEGER NOT NULL,
    fail           INTEGER NOT NULL,
    waived         INTEGER NOT NULL,
    error          INTEGER NOT NULL,
    report         TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, policy_digest)
) WITHOUT ROWID;
