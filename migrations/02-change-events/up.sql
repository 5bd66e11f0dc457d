-- A change event between two consecutive observations (by observed time) of one target whose
-- configs differ, so that logs and reports cost what the changes cost, not what the history costs.
CREATE TABLE change_events (
    target_id     INTEGER NOT NULL REFERENCES targets(id),
    from_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    to_snapshot   INTEGER NOT NULL REFERENCES snapshots(id),
    at            INTEGER NOT NULL,
    changes       TEXT NOT NULL,
    PRIMARY KEY (target_id, to_snapshot)
) WITHOUT ROWID;

CREATE INDEX change_events_by_time ON change_events(target_id, at);
