-- Signed checkpoints: with a signing key, each command that records rows stores the new chain
-- head here in the same transaction, signed with the key kept apart from the database, so that
-- whoever can write this file but lacks the key cannot rewrite the history before a signed head
-- unnoticed. One row per command: a command that commits several batches moves its row's head
-- forward with each one (each newer head covers the older through the chain).
--
-- `signature` is an SSH signature (armored, namespace `tcss-audit-checkpoint`) of the message
-- "tcss-audit/checkpoint/v1\nsnapshot N\nchain_hash H\nsigned_at_ms T\ntool_version V\n".
CREATE TABLE signed_checkpoints (
    id           INTEGER PRIMARY KEY,
    snapshot     INTEGER NOT NULL,
    chain_hash   TEXT NOT NULL CHECK (length(chain_hash) = 64),
    signed_at    INTEGER NOT NULL,
    tool_version TEXT NOT NULL,
    signature    TEXT NOT NULL
);
