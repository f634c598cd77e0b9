-- Idempotency keys belong to one user: two users of an organization may send the same key and never see each
-- other's results. A key is now written in the same transaction as the batch it protects, so there is no
-- "in progress" row any more: a row always holds the response that committed with its batch.
DELETE FROM idempotency_keys WHERE status IS NULL OR body IS NULL;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ALTER COLUMN status SET NOT NULL, ALTER COLUMN body SET NOT NULL;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (org_id, user_id, key);
ALTER TABLE idempotency_keys ADD FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id);
