-- Which account each observation came from: what `sts:GetCallerIdentity` said for the
-- credentials that fetched it (NULL: not known, as for every row recorded before this
-- migration and for imported answers). The three are inside the chain: a row that has them
-- links them after its other fields, so rows without them keep the links they were made with.
ALTER TABLE snapshots ADD COLUMN account TEXT;
ALTER TABLE snapshots ADD COLUMN arn TEXT;
ALTER TABLE snapshots ADD COLUMN principal_type TEXT;
