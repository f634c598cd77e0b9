-- Every key of a campaign-scoped table carries campaign_id, so that these tables can be distributed by it (Citus,
-- docs/SCALING.md) without a key or a foreign key that spans shards. Two tables did not:
-- assignment_batches (keyed by id alone, with undo's self-reference and once-only index by id) and
-- confirmation_tokens (keyed by the token's hash). Their lookups by campaign keep working from the new keys;
-- a batch looked up by id alone (GET /v1/batches/{id}) uses an index on id.
ALTER TABLE assignment_batches DROP CONSTRAINT assignment_batches_undoes_batch_id_fkey;
DROP INDEX assignment_batches_undone_once;
ALTER TABLE assignment_batches DROP CONSTRAINT assignment_batches_pkey;
ALTER TABLE assignment_batches ADD PRIMARY KEY (campaign_id, id);
-- The key now serves what this index did.
DROP INDEX assignment_batches_by_campaign;
CREATE INDEX assignment_batches_by_id ON assignment_batches (id);
CREATE UNIQUE INDEX assignment_batches_undone_once ON assignment_batches (campaign_id, undoes_batch_id);
ALTER TABLE assignment_batches ADD CONSTRAINT assignment_batches_undoes_batch
    FOREIGN KEY (campaign_id, undoes_batch_id) REFERENCES assignment_batches (campaign_id, id);

ALTER TABLE confirmation_tokens DROP CONSTRAINT confirmation_tokens_pkey;
ALTER TABLE confirmation_tokens ADD PRIMARY KEY (campaign_id, token_hash);
