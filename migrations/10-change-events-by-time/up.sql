-- Change events stored in time order within each target, so that a question over a window (a
-- fleet's log for the year) reads one run of rows a target rather than an index entry and then
-- a row for each event. The table is the same: (target_id, to_snapshot) stays unique, kept by
-- an index of its own, and replaces the index on (target_id, at), which is now the key's prefix.
CREATE TABLE change_events_in_order (
    target_id     INTEGER NOT NULL REFERENCES targets(id),
    from_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    to_snapshot   INTEGER NOT NULL REFERENCES snapshots(id),
    at            INTEGER NOT NULL,
    changes       TEXT NOT NULL,
    PRIMARY KEY (target_id, at, to_snapshot)
) WITHOUT ROWID;

INSERT INTO change_events_in_order (target_id, from_snapshot, to_snapshot, at, changes)
    SELECT target_id, from_snapshot, to_snapshot, at, changes FROM change_events;

DROP TABLE change_events;
ALTER TABLE change_events_in_order RENAME TO change_events;

CREATE UNIQUE INDEX change_events_into ON change_events(target_id, to_snapshot);
