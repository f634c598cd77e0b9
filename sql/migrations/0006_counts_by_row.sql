-- Counts of changed conversations are kept by a row-level trigger instead of the statement-level one with
-- transition tables. PostgreSQL copies every updated row, old and new, into the transition tables whenever such
-- a trigger exists, whatever the statement changed: on a million-row Reassign All that was two million full rows
-- spilled to temporary files and aggregated again, about 8% of the statement.
--
-- The row trigger fires only when the assignee or the status changed (not for unread or last_message_at), and
-- not while `switchboard.counts_written` is 'on': the set-based writers (the bulk move, undo, the self-assign
-- claim) turn it on for their one statement, write the deltas themselves from what they moved, and turn it off.
-- Every other write, including raw SQL, is still counted, one row at a time.
DROP TRIGGER conversation_counts_update ON conversations;
DROP FUNCTION conversation_counts_after_update();

CREATE FUNCTION conversation_counts_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversation_counts (campaign_id, assignee_id, status, n)
    VALUES (OLD.campaign_id, OLD.assignee_id, OLD.status, -1), (NEW.campaign_id, NEW.assignee_id, NEW.status, 1);
    RETURN NULL;
END $$;

CREATE TRIGGER conversation_counts_update AFTER UPDATE OF campaign_id, assignee_id, status ON conversations
    FOR EACH ROW
    WHEN ((OLD.campaign_id, OLD.assignee_id, OLD.status) IS DISTINCT FROM (NEW.campaign_id, NEW.assignee_id, NEW.status)
          AND current_setting('switchboard.counts_written', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION conversation_counts_after_update();
