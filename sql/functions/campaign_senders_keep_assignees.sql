-- Trigger function (BEFORE DELETE OR UPDATE OF campaign_id, user_id ON campaign_senders): a sender who holds
-- conversations cannot be deleted or re-keyed, as the old foreign key from conversations.assignee_id guaranteed
-- (raised as SQLSTATE 23503 under that key's name). Switchboard deactivates senders instead.
CREATE OR REPLACE FUNCTION campaign_senders_keep_assignees() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.campaign_id, OLD.user_id) IS NOT DISTINCT FROM (NEW.campaign_id, NEW.user_id) THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM conversations c WHERE c.campaign_id = OLD.campaign_id AND c.assignee_id = OLD.user_id) THEN
        RAISE EXCEPTION 'user % holds conversations of campaign %', OLD.user_id, OLD.campaign_id
            USING ERRCODE = 'foreign_key_violation', TABLE = 'campaign_senders',
                  CONSTRAINT = 'conversations_assignee_is_sender';
    END IF;
    IF TG_OP = 'UPDATE' THEN RETURN NEW; END IF;
    RETURN OLD;
END $$;
