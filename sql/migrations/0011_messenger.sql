-- The texter's messenger and campaign setup in the browser.

-- Campaign invite links: only a SHA-256 of the link's token is kept. A link works until it expires or is revoked;
-- a redemption holds the invite's row FOR SHARE, so a revocation waits for joins in flight and none follows it.
CREATE TABLE campaign_invites (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id bigint NOT NULL,
    campaign_id bigint NOT NULL,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    FOREIGN KEY (org_id, campaign_id) REFERENCES campaigns (org_id, id)
);
CREATE INDEX campaign_invites_by_campaign ON campaign_invites (campaign_id, id);

-- Which invite brought a sender (the invite's "joined" count), and when the sender last did something in the
-- campaign (sent, closed, requested, released): the Senders table shows who went quiet.
ALTER TABLE campaign_senders ADD COLUMN invite_id bigint REFERENCES campaign_invites (id);
ALTER TABLE campaign_senders ADD COLUMN last_active_at timestamptz;
CREATE INDEX campaign_senders_by_invite ON campaign_senders (invite_id) WHERE invite_id IS NOT NULL;

-- One-time set-password links an admin hands to a user (a reset, or a first password).
CREATE TABLE password_links (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    org_id bigint NOT NULL,
    user_id bigint NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
