-- Trigger function (BEFORE UPDATE OF campaign_id, id ON conversations): a conversation never changes its key,
-- which is its contact's.
CREATE OR REPLACE FUNCTION conversations_keep_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'conversation % of campaign % cannot change its campaign or id', OLD.id, OLD.campaign_id
        USING ERRCODE = 'foreign_key_violation', TABLE = 'conversations', CONSTRAINT = 'conversations_contact';
END $$;
