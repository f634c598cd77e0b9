-- Trigger function (AFTER INSERT and AFTER UPDATE ON conversations, per statement, over the new rows):
-- - a new conversation has its contact;
-- - every assignee is a sender of the conversation's campaign (looked up by key, locked FOR KEY SHARE as a foreign
--   key would; SQLSTATE 23503 under the old constraint's name);
-- - a conversation put back in the pool (unassigned, not started) lowers its campaign's pool start, after locking
--   that start's row (docs/ARCHITECTURE.md, "Self-assign").
CREATE OR REPLACE FUNCTION conversations_check_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_campaigns bigint[];
    v_assignees bigint[];
    v_pooled_campaigns bigint[];
    v_pooled_from timestamptz[];
    v_found bigint;
    stray record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT n.campaign_id, n.id INTO stray FROM new_rows n
        WHERE NOT EXISTS (SELECT 1 FROM contacts p WHERE p.campaign_id = n.campaign_id AND p.id = n.id)
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'conversation % of campaign % has no contact', stray.id, stray.campaign_id
                USING ERRCODE = 'foreign_key_violation', TABLE = 'conversations', CONSTRAINT = 'conversations_contact';
        END IF;
    END IF;
    SELECT array_agg(a.campaign_id) FILTER (WHERE a.assignee_id IS NOT NULL),
           array_agg(a.assignee_id) FILTER (WHERE a.assignee_id IS NOT NULL),
           array_agg(a.campaign_id) FILTER (WHERE a.pooled_from IS NOT NULL),
           array_agg(a.pooled_from) FILTER (WHERE a.pooled_from IS NOT NULL)
      INTO v_campaigns, v_assignees, v_pooled_campaigns, v_pooled_from
    FROM (SELECT n.campaign_id, n.assignee_id,
                 min(n.created_at) FILTER (WHERE n.assignee_id IS NULL AND n.status = 'not_started') AS pooled_from
          FROM new_rows n GROUP BY n.campaign_id, n.assignee_id) a;
    IF v_pooled_campaigns IS NOT NULL THEN
        PERFORM 1 FROM campaign_pool_starts f WHERE f.campaign_id = ANY (v_pooled_campaigns)
        ORDER BY f.campaign_id FOR UPDATE;
        UPDATE campaign_pool_starts f SET created_at = p.pooled_from, id = 0
        FROM unnest(v_pooled_campaigns, v_pooled_from) AS p (campaign_id, pooled_from)
        WHERE f.campaign_id = p.campaign_id AND (f.created_at, f.id) > (p.pooled_from, 0);
    END IF;
    IF v_assignees IS NULL THEN
        RETURN NULL;
    END IF;
    -- The senders found are locked FOR KEY SHARE (as a foreign key would), so none is removed before this
    -- transaction ends; when fewer are found than were asked for, one of the assignees is not a sender.
    -- One assignee (a single move, a status change, a grant, a routed reply) is one primary-key lookup: the
    -- cached plan of the join below reads the whole senders table, which the join needs for a bulk move but which
    -- cost 0.9 ms per routed reply with a few thousand senders in the database.
    IF cardinality(v_assignees) = 1 THEN
        PERFORM 1 FROM campaign_senders s WHERE s.campaign_id = v_campaigns[1] AND s.user_id = v_assignees[1]
        FOR KEY SHARE;
        IF FOUND THEN
            RETURN NULL;
        END IF;
    ELSE
        SELECT count(*) INTO v_found FROM (
            SELECT 1 FROM campaign_senders s JOIN unnest(v_campaigns, v_assignees) AS a (campaign_id, assignee_id)
              ON s.campaign_id = a.campaign_id AND s.user_id = a.assignee_id
            FOR KEY SHARE OF s
        ) locked;
        IF v_found = cardinality(v_assignees) THEN
            RETURN NULL;
        END IF;
    END IF;
    SELECT a.campaign_id, a.assignee_id INTO stray
    FROM unnest(v_campaigns, v_assignees) AS a (campaign_id, assignee_id)
    WHERE NOT EXISTS (SELECT 1 FROM campaign_senders s WHERE s.campaign_id = a.campaign_id AND s.user_id = a.assignee_id)
    LIMIT 1;
    RAISE EXCEPTION 'user % is not a sender of campaign %', stray.assignee_id, stray.campaign_id
        USING ERRCODE = 'foreign_key_violation', TABLE = 'conversations',
              CONSTRAINT = 'conversations_assignee_is_sender';
END $$;
