-- Selection (wave 3): filters on bulk operations and lists, and preview tokens that bind the set.

-- What a dry run matched, kept for ten minutes under its token: the conversation ids as ranges (a campaign's
-- ids are mostly consecutive, so a million conversations are often one range, and a scattered 10% about
-- 100,000 ranges, a couple of MiB). Unlogged: a crash loses only previews, and they are made again.
CREATE UNLOGGED TABLE preview_sets (
    campaign_id bigint NOT NULL,
    token_hash bytea NOT NULL,
    actor text NOT NULL,
    -- SHA-256 of the operation and every parameter that chooses or deals the conversations.
    binding text NOT NULL,
    ids int8multirange NOT NULL,
    size integer NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, token_hash)
);
CREATE INDEX preview_sets_by_token ON preview_sets (token_hash);
CREATE INDEX preview_sets_by_expiry ON preview_sets (expires_at);

-- Unassign All's confirmation is bound to its filter as well.
ALTER TABLE confirmation_tokens ADD COLUMN binding text NOT NULL DEFAULT '';

-- Selection by tag: a campaign's conversations with a tag, without visiting every conversation's tags.
CREATE INDEX conversation_tags_by_tag ON conversation_tags (campaign_id, tag, conversation_id);
