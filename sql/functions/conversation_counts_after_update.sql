-- Trigger function (AFTER UPDATE OF campaign_id, assignee_id, status ON conversations, per row, unless the
-- statement wrote its own deltas: `switchboard.counts_written`): a changed row moves one count from its old
-- (campaign, assignee, status) to its new one.
CREATE OR REPLACE FUNCTION conversation_counts_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversation_counts (campaign_id, assignee_id, status, n)
    VALUES (OLD.campaign_id, OLD.assignee_id, OLD.status, -1), (NEW.campaign_id, NEW.assignee_id, NEW.status, 1);
    RETURN NULL;
END $$;
