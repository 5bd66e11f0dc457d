-- The signature line: signed checkpoints chained among themselves, and the journal's record of
-- where a line starts.
--
-- `seq` numbers a key's checkpoints from its line's start; `prev_message` is the SHA-256 (hex)
-- of the previous checkpoint's signed message (NULL where a line starts); both are inside what
-- is signed, in the message "tcss-audit/checkpoint/v2\nseq N\nprev P\nsnapshot N\nchain_hash
-- H\nsigned_at_ms T\ntool_version V\n" (P: the hex digest, or `start`). `key` is the signing
-- key's fingerprint, only to find a key's checkpoints quickly: each is still verified with
-- the key. Checkpoints made before this migration keep NULL in all three and their v1 message.
ALTER TABLE signed_checkpoints ADD COLUMN seq INTEGER;
ALTER TABLE signed_checkpoints ADD COLUMN prev_message TEXT;
ALTER TABLE signed_checkpoints ADD COLUMN key TEXT;

-- The journal gains kind 'signing': a signature line started on a history that already has
-- rows (`--start-signing`), which names no target and no config. The table is made again with
-- both columns optional; every entry is copied as it is, so every stored hash still holds.
CREATE TABLE journal_13 (
    id          INTEGER PRIMARY KEY,
    target_id   INTEGER REFERENCES targets(id),
    kind        TEXT NOT NULL CHECK (kind IN ('baseline', 'restore', 'signing')),
    at          INTEGER NOT NULL,
    by_whom     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    snapshot    INTEGER,
    config_hash TEXT,
    detail      TEXT NOT NULL,
    hash        BLOB NOT NULL CHECK (length(hash) = 32),
    CHECK ((kind = 'signing') = (target_id IS NULL AND config_hash IS NULL))
);
INSERT INTO journal_13 (id, target_id, kind, at, by_whom, reason, snapshot, config_hash, detail, hash)
    SELECT id, target_id, kind, at, by_whom, reason, snapshot, config_hash, detail, hash FROM journal;
DROP TABLE journal;
ALTER TABLE journal_13 RENAME TO journal;
CREATE INDEX journal_by_target ON journal (target_id, kind, id);
