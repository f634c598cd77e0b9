-- Trigger function (BEFORE DELETE OR UPDATE OF campaign_id, id ON contacts): a contact with a conversation
-- cannot be deleted or re-keyed (SQLSTATE 23503, constraint conversations_contact).
CREATE OR REPLACE FUNCTION contacts_keep_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.campaign_id, OLD.id) IS NOT DISTINCT FROM (NEW.campaign_id, NEW.id) THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM conversations c WHERE c.campaign_id = OLD.campaign_id AND c.id = OLD.id) THEN
        RAISE EXCEPTION 'contact % of campaign % has a conversation', OLD.id, OLD.campaign_id
            USING ERRCODE = 'foreign_key_violation', TABLE = 'contacts', CONSTRAINT = 'conversations_contact';
    END IF;
    IF TG_OP = 'UPDATE' THEN RETURN NEW; END IF;
    RETURN OLD;
END $$;
