-- The web console's sign-in: a bcrypt hash per user (NULL: the user cannot sign in to the console), sessions
-- kept in PostgreSQL (they survive a restart and are shared by every server process), and a count of recent
-- failed sign-ins per handle, so that guessing slows down whether or not the handle exists.
ALTER TABLE users ADD COLUMN password_hash text;

CREATE TABLE web_sessions (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    org_id bigint NOT NULL,
    user_id bigint NOT NULL,
    -- Bound to the session: every state-changing form carries it.
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX web_sessions_by_last_seen ON web_sessions (last_seen_at);

CREATE TABLE sign_in_failures (
    handle text PRIMARY KEY,
    failures integer NOT NULL,
    last_failure_at timestamptz NOT NULL
);
