-- Idempotency-Key for the POSTs that change assignments: the first result is kept (at least 24 hours) and
-- returned again for the same key and body; the same key with another body is refused.
CREATE TABLE idempotency_keys (
    org_id bigint NOT NULL REFERENCES organizations (id),
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    user_id bigint NOT NULL,
    request_hash bytea NOT NULL,
    status integer,
    body bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
