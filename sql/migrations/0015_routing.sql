-- Routing and availability (issue 19): who gets a reply nobody owns, shift handoffs, escalation to a skill,
-- stale replies, and a note on every batch.
--
-- Every routing decision of a campaign takes the campaign's routing lock first (a transaction-level advisory
-- lock, key (7402665, campaign)), so decisions are made one at a time on what the previous ones committed:
-- round robin takes turns exactly and least loaded reads loads that include every earlier routing. The lock is
-- taken after the message is written, so it is held only for the choice, the move and the commit. An advisory
-- lock rather than a lock on the campaign's row, so that routing never waits behind other writers of that row
-- (round robin does record its last turn there, under the advisory lock).

-- A note on every batch, the way teams "update internal notes" when they fix an assignment.
ALTER TABLE assignment_batches ADD COLUMN note text CHECK (note IS NULL OR char_length(note) BETWEEN 1 AND 500);
ALTER TABLE assignment_batches DROP CONSTRAINT assignment_batches_kind_check;
ALTER TABLE assignment_batches ADD CONSTRAINT assignment_batches_kind_check
    CHECK (kind IN ('reassign_all', 'reassign_some', 'unassign_all', 'reassign', 'self_assign', 'release', 'claim',
                    'undo', 'route', 'handoff', 'release_stale'));

-- Away senders receive nothing from routing; they may still request more themselves.
ALTER TABLE campaign_senders ADD COLUMN available boolean NOT NULL DEFAULT true;

ALTER TABLE campaigns
    ADD COLUMN routing_policy text NOT NULL DEFAULT 'manual'
        CHECK (routing_policy IN ('manual', 'round_robin', 'least_loaded', 'skill')),
    -- What the skill policy does when nobody whose skills cover the tags can take the conversation.
    ADD COLUMN routing_fallback text NOT NULL DEFAULT 'manual'
        CHECK (routing_fallback IN ('manual', 'round_robin', 'least_loaded')),
    -- Minutes a conversation may need a reply from its assignee before it is released and routed again.
    ADD COLUMN release_stale_after integer CHECK (release_stale_after BETWEEN 1 AND 525600),
    -- Round robin's last turn.
    ADD COLUMN routing_last_user_id bigint;

-- Skills per campaign: free tags a sender carries.
CREATE TABLE sender_skills (
    campaign_id bigint NOT NULL,
    user_id bigint NOT NULL,
    skill text NOT NULL CHECK (skill ~ '^[a-z0-9._-]{1,64}$'),
    PRIMARY KEY (campaign_id, user_id, skill),
    FOREIGN KEY (campaign_id, user_id) REFERENCES campaign_senders (campaign_id, user_id)
);
CREATE INDEX sender_skills_by_skill ON sender_skills (campaign_id, skill);

-- Tags on conversations (from an import column named `tags`, the API, a routing rule). They hang off the
-- contact, whose key is the conversation's, so that moves never touch them.
CREATE TABLE conversation_tags (
    campaign_id bigint NOT NULL,
    conversation_id bigint NOT NULL,
    tag text NOT NULL CHECK (tag ~ '^[a-z0-9._-]{1,64}$'),
    PRIMARY KEY (campaign_id, conversation_id, tag),
    FOREIGN KEY (campaign_id, conversation_id) REFERENCES contacts (campaign_id, id)
);

-- Who routing may choose among: a campaign's active, available senders.
CREATE INDEX campaign_senders_routable ON campaign_senders (campaign_id, user_id) WHERE active AND available;

-- The stale-reply scan: a campaign's conversations that need a reply, oldest change first.
CREATE INDEX conversations_needing_reply ON conversations (campaign_id, updated_at)
    WHERE status = 'needs_reply' AND assignee_id IS NOT NULL;

-- Picks who receives conversation p_conversation of campaign p_campaign, or NULL when nobody can:
-- active and available senders, not p_exclude, under the campaign's max_open, and with skill p_skill when
-- given; policy 'skill' keeps only senders whose skills cover the conversation's tags, then the least loaded,
-- and falls back to the campaign's fallback policy when none of them can. Load is a sender's open conversations
-- (not closed, not opted out), read from the kept counts. Ties go by handle. Round robin takes the next handle
-- after the last turn, wrapping, and records the turn. The caller holds the campaign's routing lock.
-- Generic plans: these run on every routed reply, and planning their statements afresh each time (PL/pgSQL's
-- first custom plans) cost more than running them.
CREATE FUNCTION switchboard_pick_sender(p_campaign bigint, p_conversation bigint, p_policy text, p_skill text,
                                        p_exclude bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_cap integer;
    v_last text;
    v_fallback text;
    v_user bigint;
    v_pieces bigint;
    v_candidates bigint;
BEGIN
    IF p_policy = 'manual' THEN
        RETURN NULL;
    END IF;
    SELECT k.max_open, k.routing_fallback, u.handle INTO v_cap, v_fallback, v_last
    FROM campaigns k LEFT JOIN users u ON u.id = k.routing_last_user_id WHERE k.id = p_campaign;

    WITH candidates AS (
        SELECT s.user_id, u.handle FROM campaign_senders s JOIN users u ON u.id = s.user_id
        WHERE s.campaign_id = p_campaign AND s.active AND s.available AND s.user_id IS DISTINCT FROM p_exclude
          AND (p_skill IS NULL OR EXISTS (
              SELECT 1 FROM sender_skills k WHERE k.campaign_id = p_campaign AND k.user_id = s.user_id AND k.skill = p_skill))
          AND (p_policy <> 'skill' OR NOT EXISTS (
              SELECT 1 FROM conversation_tags t
              WHERE t.campaign_id = p_campaign AND t.conversation_id = p_conversation AND NOT EXISTS (
                  SELECT 1 FROM sender_skills k
                  WHERE k.campaign_id = p_campaign AND k.user_id = s.user_id AND k.skill = t.tag)))
    ),
    loaded AS (
        SELECT c.user_id, c.handle, x.load, x.pieces FROM candidates c
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(x.n), 0) AS load, count(*) AS pieces FROM conversation_counts x
            WHERE x.campaign_id = p_campaign AND x.assignee_id = c.user_id
              AND x.status IN ('not_started', 'needs_reply', 'waiting')
        ) x
    )
    SELECT l.user_id, sum(l.pieces) OVER (), count(*) OVER () INTO v_user, v_pieces, v_candidates FROM loaded l
    WHERE v_cap IS NULL OR l.load < v_cap
    ORDER BY CASE WHEN p_policy = 'round_robin' THEN (v_last IS NOT NULL AND l.handle COLLATE "C" <= v_last) END,
             CASE WHEN p_policy <> 'round_robin' THEN l.load END,
             l.handle COLLATE "C"
    LIMIT 1;

    -- Every routing adds count deltas; when the candidates' have piled up, they are folded (as
    -- ConversationCounts.compact does, under its advisory lock), so a choice costs the same on the millionth reply.
    IF v_pieces > 8 * v_candidates + 64 AND pg_try_advisory_xact_lock(7402662, p_campaign::bit(32)::integer) THEN
        WITH folded AS (
            DELETE FROM conversation_counts x WHERE x.campaign_id = p_campaign RETURNING x.assignee_id, x.status, x.n
        )
        INSERT INTO conversation_counts (campaign_id, assignee_id, status, n)
        SELECT p_campaign, f.assignee_id, f.status, sum(f.n) FROM folded f
        GROUP BY f.assignee_id, f.status HAVING sum(f.n) <> 0;
    END IF;
    IF v_user IS NULL AND p_policy = 'skill' AND p_skill IS NULL THEN
        RETURN switchboard_pick_sender(p_campaign, p_conversation, v_fallback, NULL, p_exclude);
    END IF;
    IF v_user IS NOT NULL AND p_policy = 'round_robin' THEN
        UPDATE campaigns SET routing_last_user_id = v_user WHERE id = p_campaign;
    END IF;
    RETURN v_user;
END $$;

-- Routes each of p_ids (conversations of p_campaign) by p_policy, one after another, so each choice sees the
-- loads the earlier ones made: to p_target when given, else to whoever switchboard_pick_sender picks, never
-- back to its current assignee; a conversation nobody can take goes to the pool when p_release, else stays.
-- Writes the moves and their history under batch p_batch (the caller writes the batch row) and returns them.
CREATE FUNCTION switchboard_route(p_campaign bigint, p_ids bigint[], p_policy text, p_skill text, p_target bigint,
                                  p_release boolean, p_batch bigint)
RETURNS TABLE (conversation_id bigint, from_id bigint, to_id bigint) LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_id bigint;
    v_from bigint;
    v_to bigint;
    v_moved bigint[] := '{}';
    v_froms bigint[] := '{}';
    v_tos bigint[] := '{}';
BEGIN
    -- The conversations first, in id order, then the campaign: a message being routed holds its conversation
    -- before it waits for the campaign, so taking them the other way round could deadlock with it.
    PERFORM 1 FROM conversations c WHERE c.campaign_id = p_campaign AND c.id = ANY(p_ids) ORDER BY c.id FOR UPDATE;
    PERFORM pg_advisory_xact_lock(7402665, p_campaign::bit(32)::integer);
    FOREACH v_id IN ARRAY p_ids LOOP
        SELECT c.assignee_id INTO v_from FROM conversations c WHERE c.campaign_id = p_campaign AND c.id = v_id;
        CONTINUE WHEN NOT FOUND;
        v_to := coalesce(p_target, switchboard_pick_sender(p_campaign, v_id, p_policy, p_skill, v_from));
        CONTINUE WHEN v_to IS NOT DISTINCT FROM v_from OR (v_to IS NULL AND NOT p_release);
        UPDATE conversations c SET assignee_id = v_to, updated_at = now()
        WHERE c.campaign_id = p_campaign AND c.id = v_id;
        v_moved := v_moved || v_id;
        v_froms := v_froms || v_from;
        v_tos := v_tos || v_to;
    END LOOP;
    INSERT INTO assignment_moves (campaign_id, batch_id, to_assignee_id, first_conversation_id, last_conversation_id,
                                  conversation_ids, from_assignee_ids)
    SELECT p_campaign, p_batch, m.to_id, min(m.id), max(m.id), array_agg(m.id ORDER BY m.id),
           array_agg(m.from_id ORDER BY m.id)
    FROM unnest(v_moved, v_froms, v_tos) AS m (id, from_id, to_id)
    GROUP BY m.to_id, m.id / 1000;
    RETURN QUERY SELECT m.id, m.from_id, m.to_id FROM unnest(v_moved, v_froms, v_tos) AS m (id, from_id, to_id);
END $$;

-- A reply that arrived on unassigned conversation p_conversation, routed by p_policy in one round trip: the
-- choice and the move (switchboard_route), the batch row of kind 'route' and its notification. The caller's
-- transaction is the message's, which already holds the conversation. Returns the batch and who received the
-- reply, or no row when nobody could take it (it waits in the backlog).
CREATE FUNCTION switchboard_route_reply(p_campaign bigint, p_conversation bigint, p_policy text)
RETURNS TABLE (batch_id bigint, user_id bigint, handle text) LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_batch bigint := nextval(pg_get_serial_sequence('assignment_batches', 'id'));
    v_to bigint;
    v_handle text;
    v_org bigint;
BEGIN
    SELECT r.to_id INTO v_to FROM switchboard_route(p_campaign, ARRAY[p_conversation], p_policy, NULL, NULL, false, v_batch) r;
    IF v_to IS NULL THEN
        RETURN;
    END IF;
    SELECT u.handle, u.org_id INTO v_handle, v_org FROM users u WHERE u.id = v_to;
    INSERT INTO assignment_batches (id, campaign_id, kind, actor, status_filter, parameters, matched, moved, unchanged)
    VALUES (v_batch, p_campaign, 'route', 'routing', 'any',
            jsonb_build_object('conversation', p_conversation::text, 'policy', p_policy), 1, 1, 0);
    PERFORM pg_notify('switchboard_assignments', json_build_object(
        'org_id', v_org, 'campaign_id', p_campaign, 'batch_id', v_batch, 'kind', 'route',
        'user_id', v_to, 'sender', v_handle, 'received', 1, 'removed', 0)::text);
    RETURN QUERY SELECT v_batch, v_to, v_handle;
END $$;

-- Routing happens at COMMIT: a reply is inserted into `messages` by the message's transaction, and this
-- deferred trigger routes it as the transaction commits, when the conversation's final state is known (it
-- needs a reply and nobody owns it) and the campaign's policy is not manual. The campaign's routing lock is then
-- held for the choice and the commit only, not for a round trip to the application between them; and a reply
-- inserted any other way (raw SQL, another tool) is routed the same.
CREATE FUNCTION switchboard_route_message() RETURNS trigger LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_policy text;
BEGIN
    SELECT k.routing_policy INTO v_policy FROM campaigns k WHERE k.id = NEW.campaign_id;
    IF v_policy = 'manual' OR NOT EXISTS (
        SELECT 1 FROM conversations c
        WHERE c.campaign_id = NEW.campaign_id AND c.id = NEW.conversation_id
          AND c.assignee_id IS NULL AND c.status = 'needs_reply'
    ) THEN
        RETURN NULL;
    END IF;
    PERFORM switchboard_route_reply(NEW.campaign_id, NEW.conversation_id, v_policy);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER messages_route AFTER INSERT ON messages DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.direction = 'inbound') EXECUTE FUNCTION switchboard_route_message();
