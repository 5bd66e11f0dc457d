-- What each notification destination was last told about each target, so that a problem left
-- unfixed does not page every night and only what is new since is sent. Written only after a
-- delivery succeeded, so a failed one is tried again at the next run. Operational state, not
-- history: no view or report reads it, and the chain does not cover it.
CREATE TABLE notify_state (
    destination TEXT NOT NULL,
    target      TEXT NOT NULL,
    state       TEXT NOT NULL,
    told_at     INTEGER NOT NULL,
    PRIMARY KEY (destination, target)
) WITHOUT ROWID;
