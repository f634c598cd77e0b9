-- Routing a reply costs less (issue 19's throughput target). Routed replies of a campaign hold its routing lock
-- from the choice to the commit, one at a time, so that hold is what caps their rate: about 3 ms measured, at 4
-- writers as at 20 (see docs/routing.md). Two cuts:
--
-- 1. A reply is routed by one function with the work written out for one conversation, instead of through the
--    general `switchboard_route` (arrays, a second lock and read of the row, a grouped insert of the history
--    run, two more function layers). The choice is still `switchboard_pick_sender`'s, and the batch, its history
--    and its notification are the same rows and message as before.
-- 2. The assignee check's lock of the senders found now also counts them, so a statement whose assignees are
--    all senders (every one that succeeds) runs one query instead of two. (The check cannot be limited to
--    statements that set `assignee_id`: PostgreSQL refuses transition tables on a trigger with a column list.)

CREATE OR REPLACE FUNCTION conversations_check_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_campaigns bigint[];
    v_assignees bigint[];
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
    SELECT array_agg(a.campaign_id), array_agg(a.assignee_id) INTO v_campaigns, v_assignees
    FROM (SELECT DISTINCT n.campaign_id, n.assignee_id FROM new_rows n WHERE n.assignee_id IS NOT NULL) a;
    IF v_assignees IS NULL THEN
        RETURN NULL;
    END IF;
    -- The senders found are locked FOR KEY SHARE (as a foreign key would), so none is removed before this
    -- transaction ends; when fewer are found than were asked for, one of the assignees is not a sender.
    SELECT count(*) INTO v_found FROM (
        SELECT 1 FROM campaign_senders s JOIN unnest(v_campaigns, v_assignees) AS a (campaign_id, assignee_id)
          ON s.campaign_id = a.campaign_id AND s.user_id = a.assignee_id
        FOR KEY SHARE OF s
    ) locked;
    IF v_found = cardinality(v_assignees) THEN
        RETURN NULL;
    END IF;
    SELECT a.campaign_id, a.assignee_id INTO stray
    FROM unnest(v_campaigns, v_assignees) AS a (campaign_id, assignee_id)
    WHERE NOT EXISTS (SELECT 1 FROM campaign_senders s WHERE s.campaign_id = a.campaign_id AND s.user_id = a.assignee_id)
    LIMIT 1;
    RAISE EXCEPTION 'user % is not a sender of campaign %', stray.assignee_id, stray.campaign_id
        USING ERRCODE = 'foreign_key_violation', TABLE = 'conversations',
              CONSTRAINT = 'conversations_assignee_is_sender';
END $$;

-- A reply that arrived on a conversation nobody owns, routed as its transaction commits (trigger
-- `messages_route`, unchanged): when the campaign's policy is not manual and the conversation, locked here, still
-- needs a reply and has no assignee, the campaign's routing lock is taken, `switchboard_pick_sender` chooses,
-- and the move, its history run, the batch of kind 'route' and its notification are written. Nobody able to take
-- it leaves it in the backlog, with no batch.
CREATE OR REPLACE FUNCTION switchboard_route_message() RETURNS trigger LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_policy text;
    v_to bigint;
    v_batch bigint;
BEGIN
    SELECT k.routing_policy INTO v_policy FROM campaigns k WHERE k.id = NEW.campaign_id;
    IF v_policy = 'manual' THEN
        RETURN NULL;
    END IF;
    -- The message's transaction holds the conversation already (MessageService locks it); a reply inserted by
    -- other means takes it here, before the campaign's lock, in the order every router takes them.
    PERFORM 1 FROM conversations c
    WHERE c.campaign_id = NEW.campaign_id AND c.id = NEW.conversation_id
      AND c.assignee_id IS NULL AND c.status = 'needs_reply'
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- The batch row is written before the campaign's lock is taken, to keep the lock's hold short; it is taken
    -- back in the rare case that nobody can take the reply.
    v_batch := nextval(pg_get_serial_sequence('assignment_batches', 'id'));
    INSERT INTO assignment_batches (id, campaign_id, kind, actor, status_filter, parameters, matched, moved, unchanged)
    VALUES (v_batch, NEW.campaign_id, 'route', 'routing', 'any',
            jsonb_build_object('conversation', NEW.conversation_id::text, 'policy', v_policy), 1, 1, 0);
    PERFORM pg_advisory_xact_lock(7402665, NEW.campaign_id::bit(32)::integer);
    v_to := switchboard_pick_sender(NEW.campaign_id, NEW.conversation_id, v_policy, NULL, NULL);
    IF v_to IS NULL THEN
        DELETE FROM assignment_batches b WHERE b.campaign_id = NEW.campaign_id AND b.id = v_batch;
        RETURN NULL;
    END IF;
    UPDATE conversations c SET assignee_id = v_to, updated_at = now()
    WHERE c.campaign_id = NEW.campaign_id AND c.id = NEW.conversation_id;
    INSERT INTO assignment_moves (campaign_id, batch_id, to_assignee_id, first_conversation_id, last_conversation_id,
                                  conversation_ids, from_assignee_ids)
    VALUES (NEW.campaign_id, v_batch, v_to, NEW.conversation_id, NEW.conversation_id, ARRAY[NEW.conversation_id],
            ARRAY[NULL::bigint]);
    PERFORM pg_notify('switchboard_assignments', json_build_object(
        'org_id', u.org_id, 'campaign_id', NEW.campaign_id, 'batch_id', v_batch, 'kind', 'route',
        'user_id', v_to, 'sender', u.handle, 'received', 1, 'removed', 0)::text)
    FROM users u WHERE u.id = v_to;
    RETURN NULL;
END $$;

-- Only the trigger called it.
DROP FUNCTION switchboard_route_reply(bigint, bigint, text);
