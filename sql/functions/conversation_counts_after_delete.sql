-- Trigger function (AFTER DELETE ON conversations, per statement): the deleted rows leave the sender list's
-- counts, as one negative delta per (campaign, assignee, status).
CREATE OR REPLACE FUNCTION conversation_counts_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversation_counts (campaign_id, assignee_id, status, n)
    SELECT campaign_id, assignee_id, status, -count(*) FROM old_rows GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;
