-- Retention: when the oldest part of the history is pruned, the chain restarts from a checkpoint
-- that records where the removed prefix ended, so what remains still verifies link by link.
CREATE TABLE chain_checkpoints (
    id            INTEGER PRIMARY KEY,
    last_snapshot INTEGER NOT NULL,
    chain_hash    TEXT NOT NULL CHECK (length(chain_hash) = 64),
    removed       INTEGER NOT NULL,
    before        INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
