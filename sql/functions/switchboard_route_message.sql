-- Trigger function (the deferred constraint trigger messages_route, AFTER INSERT ON messages): at COMMIT, an
-- inbound reply on a conversation nobody owns is routed by the campaign's policy under the campaign's routing
-- lock, as a batch of kind `route` in the message's own transaction; it also writes the reply's status change in
-- the same UPDATE as the assignee.
CREATE OR REPLACE FUNCTION switchboard_route_message() RETURNS trigger LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_policy text;
    v_status text;
    v_pending boolean;
    v_to bigint;
    v_batch bigint;
BEGIN
    SELECT k.routing_policy INTO v_policy FROM campaigns k WHERE k.id = NEW.campaign_id;
    -- The message's transaction holds the conversation already (MessageService locks it); a reply inserted by
    -- other means takes it here, before the campaign's lock, in the order every router takes them.
    SELECT c.status INTO v_status FROM conversations c
    WHERE c.campaign_id = NEW.campaign_id AND c.id = NEW.conversation_id AND c.assignee_id IS NULL
    FOR UPDATE;
    IF NOT FOUND OR v_status = 'opted_out' THEN
        RETURN NULL;
    END IF;
    v_pending := v_status <> 'needs_reply';
    IF v_policy <> 'manual' THEN
        -- The batch row is written before the campaign's lock is taken, to keep the lock's hold short; it is
        -- taken back in the rare case that nobody can take the reply.
        v_batch := nextval(pg_get_serial_sequence('assignment_batches', 'id'));
        PERFORM switchboard_record_batch(
            v_batch, NEW.campaign_id, 'route', 'routing', 'any',
            jsonb_build_object('conversation', NEW.conversation_id::text, 'policy', v_policy), 1, 1, 0);
        PERFORM pg_advisory_xact_lock(7402665, NEW.campaign_id::bit(32)::integer);
        v_to := switchboard_pick_sender(NEW.campaign_id, NEW.conversation_id, v_policy, NULL, NULL, NULL);
        IF v_to IS NULL THEN
            DELETE FROM assignment_batches b WHERE b.campaign_id = NEW.campaign_id AND b.id = v_batch;
        END IF;
    END IF;
    IF v_to IS NULL THEN
        -- Manual, or nobody can take it: the status change alone, if it was left here.
        IF v_pending THEN
            UPDATE conversations c SET status = 'needs_reply', unread = true, last_message_at = now(),
                updated_at = now()
            WHERE c.campaign_id = NEW.campaign_id AND c.id = NEW.conversation_id;
        END IF;
        RETURN NULL;
    END IF;
    UPDATE conversations c SET assignee_id = v_to, status = 'needs_reply', updated_at = now(),
        unread = c.unread OR v_pending,
        last_message_at = CASE WHEN v_pending THEN now() ELSE c.last_message_at END
    WHERE c.campaign_id = NEW.campaign_id AND c.id = NEW.conversation_id;
    INSERT INTO assignment_moves (campaign_id, batch_id, to_assignee_id, first_conversation_id, last_conversation_id,
                                  conversation_ids, from_assignee_ids)
    VALUES (NEW.campaign_id, v_batch, v_to, NEW.conversation_id, NEW.conversation_id, ARRAY[NEW.conversation_id],
            ARRAY[NULL::bigint]);
    PERFORM switchboard_announce_batch(v_batch, NEW.campaign_id, 'route', ARRAY[v_to],
                                       ARRAY[(SELECT u.handle FROM users u WHERE u.id = v_to)], ARRAY[1], ARRAY[0]);
    RETURN NULL;
END $$;
