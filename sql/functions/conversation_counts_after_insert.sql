-- Trigger function (AFTER INSERT ON conversations, per statement): the inserted rows enter the sender list's
-- counts, as one delta per (campaign, assignee, status).
CREATE OR REPLACE FUNCTION conversation_counts_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversation_counts (campaign_id, assignee_id, status, n)
    SELECT campaign_id, assignee_id, status, count(*) FROM new_rows GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;
