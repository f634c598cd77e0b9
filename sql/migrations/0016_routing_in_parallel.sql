-- Routed replies of one campaign in parallel (issue 19's throughput target).
--
-- Until now every routing decision of a campaign took the campaign's routing lock (7402665, campaign) exclusively
-- and held it to the commit, so routed replies committed one at a time. Least loaded (and skill, which is least
-- loaded among the senders with the skills) now only needs to serialise the replies that go to the same sender:
--
-- * a routed reply whose policy never reaches round robin takes the campaign's routing lock SHARED, and then one
--   lock per sender it routes to, (campaign << 32) # sender as one bigint key, held to the commit;
-- * everything else that routes (round robin, a handoff, a stale release, an escalation) takes the campaign's
--   routing lock EXCLUSIVE as before: it waits for the replies in flight and they wait for it, so it sees every
--   earlier routing committed and makes its choices alone (every sender lock it asks for is then free).
--
-- The choice under the shared lock, least loaded first: the candidates' committed loads are read, and the
-- candidates are tried in order (fewest open conversations, then handle) with pg_try_advisory_xact_lock. A sender
-- whose lock is held is being given a reply right now by exactly one other transaction: its true load is what is
-- committed plus one. So a locked sender is skipped unless, even with that reply counted, it would be at least one
-- below the next free candidate, in which case the choice waits for it (holding no sender lock, so waits cannot
-- form a cycle) and takes it. After the lock is granted the sender's load is read again (a fresh snapshot: READ
-- COMMITTED): when another reply committed to it between the read and the lock, or it has reached max_open, the
-- choice is made again. Every choice thereby goes to a sender whose load, counting the replies in flight, is the
-- lowest: loads stay within one of each other as they did when choices were made one at a time, but replies to
-- different senders no longer wait for each other's commits.

-- Every routing adds count deltas; when the candidates' (p_pieces rows over p_candidates senders) have piled up,
-- the campaign's are folded (as ConversationCounts.compact does, under its advisory lock; skipped while another
-- transaction folds), so a choice costs the same on the millionth reply.
CREATE FUNCTION switchboard_fold_counts(p_campaign bigint, p_pieces bigint, p_candidates bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    IF p_pieces > 8 * p_candidates + 64 AND pg_try_advisory_xact_lock(7402662, p_campaign::bit(32)::integer) THEN
        WITH folded AS (
            DELETE FROM conversation_counts x WHERE x.campaign_id = p_campaign RETURNING x.assignee_id, x.status, x.n
        )
        INSERT INTO conversation_counts (campaign_id, assignee_id, status, n)
        SELECT p_campaign, f.assignee_id, f.status, sum(f.n) FROM folded f
        GROUP BY f.assignee_id, f.status HAVING sum(f.n) <> 0;
    END IF;
END $$;

-- The least-loaded choice among the candidates of switchboard_pick_sender, with per-sender locks as described
-- above. p_cap is the campaign's max_open. Returns NULL when nobody can take it. Also folds the campaign's count
-- deltas when the candidates' have piled up.
CREATE FUNCTION switchboard_pick_least_loaded(p_campaign bigint, p_conversation bigint, p_policy text, p_skill text,
                                              p_exclude bigint, p_cap integer) RETURNS bigint LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r record;
    v_user bigint;
    v_load bigint;
    v_fresh bigint;
    v_skipped bigint;
    v_skipped_load bigint;
    v_full bigint[] := '{}';
    v_holding boolean := false;
    v_round integer := 0;
    v_pieces bigint;
    v_candidates bigint;
BEGIN
    LOOP
        v_round := v_round + 1;
        v_user := NULL;
        v_skipped := NULL;
        v_skipped_load := NULL;
        v_pieces := NULL;
        v_candidates := NULL;
        FOR r IN
            WITH candidates AS (
                SELECT s.user_id, u.handle FROM campaign_senders s JOIN users u ON u.id = s.user_id
                WHERE s.campaign_id = p_campaign AND s.active AND s.available AND s.user_id IS DISTINCT FROM p_exclude
                  AND s.user_id <> ALL (v_full)
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
            SELECT l.user_id, l.load, sum(l.pieces) OVER () AS pieces, count(*) OVER () AS candidates FROM loaded l
            WHERE p_cap IS NULL OR l.load < p_cap
            ORDER BY l.load, l.handle COLLATE "C"
        LOOP
            v_pieces := coalesce(v_pieces, r.pieces);
            v_candidates := coalesce(v_candidates, r.candidates);
            IF v_skipped IS NOT NULL AND v_skipped_load + 1 < r.load AND NOT v_holding THEN
                -- The sender being given a reply right now stays lowest even with it: wait for that reply's commit.
                -- (Not when this choice already holds a sender from an earlier round: two choices each waiting for
                -- the other's sender would deadlock. It then takes the first free one, which may be its own.)
                PERFORM pg_advisory_xact_lock((p_campaign << 32) # v_skipped);
                v_holding := true;
                v_user := v_skipped;
                v_load := v_skipped_load + 1;
                EXIT;
            END IF;
            IF pg_try_advisory_xact_lock((p_campaign << 32) # r.user_id) THEN
                v_holding := true;
                v_user := r.user_id;
                v_load := r.load;
                EXIT;
            END IF;
            IF v_skipped IS NULL THEN
                v_skipped := r.user_id;
                v_skipped_load := r.load;
            END IF;
        END LOOP;
        IF v_user IS NULL AND v_skipped IS NOT NULL THEN
            -- Every candidate is being given a reply right now: wait for the least loaded one. (A choice holding a
            -- sender from an earlier round gets here only when that sender has reached max_open meanwhile; should
            -- its wait ever close a cycle, PostgreSQL ends it as a deadlock and the message's transaction is retried.)
            PERFORM pg_advisory_xact_lock((p_campaign << 32) # v_skipped);
            v_holding := true;
            v_user := v_skipped;
            v_load := v_skipped_load + 1;
        END IF;
        EXIT WHEN v_user IS NULL;
        -- What is committed now, with the sender's lock held.
        SELECT coalesce(sum(x.n), 0) INTO v_fresh FROM conversation_counts x
        WHERE x.campaign_id = p_campaign AND x.assignee_id = v_user AND x.status IN ('not_started', 'needs_reply', 'waiting');
        IF p_cap IS NOT NULL AND v_fresh >= p_cap THEN
            v_full := v_full || v_user;
            v_user := NULL;
        ELSIF v_fresh <= v_load OR v_round >= 4 THEN
            EXIT;
        END IF;
        -- Otherwise another reply committed to this sender between the read and the lock: choose again on fresh
        -- loads (this sender, whose lock is kept, is one of the candidates again).
    END LOOP;

    PERFORM switchboard_fold_counts(p_campaign, v_pieces, v_candidates);
    RETURN v_user;
END $$;

-- As in 0015, with least loaded and skill through switchboard_pick_least_loaded. Round robin is unchanged: its
-- caller holds the campaign's routing lock exclusively.
CREATE OR REPLACE FUNCTION switchboard_pick_sender(p_campaign bigint, p_conversation bigint, p_policy text,
                                                   p_skill text, p_exclude bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE
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

    IF p_policy <> 'round_robin' THEN
        v_user := switchboard_pick_least_loaded(p_campaign, p_conversation, p_policy, p_skill, p_exclude, v_cap);
        IF v_user IS NULL AND p_policy = 'skill' AND p_skill IS NULL THEN
            RETURN switchboard_pick_sender(p_campaign, p_conversation, v_fallback, NULL, p_exclude);
        END IF;
        RETURN v_user;
    END IF;

    SELECT l.user_id, sum(l.pieces) OVER (), count(*) OVER () INTO v_user, v_pieces, v_candidates
    FROM campaign_senders s JOIN users u ON u.id = s.user_id
    CROSS JOIN LATERAL (
        SELECT s.user_id, u.handle, coalesce(sum(x.n), 0) AS load, count(*) AS pieces FROM conversation_counts x
        WHERE x.campaign_id = p_campaign AND x.assignee_id = s.user_id
          AND x.status IN ('not_started', 'needs_reply', 'waiting')
    ) l
    WHERE s.campaign_id = p_campaign AND s.active AND s.available AND s.user_id IS DISTINCT FROM p_exclude
      AND (p_skill IS NULL OR EXISTS (
          SELECT 1 FROM sender_skills k WHERE k.campaign_id = p_campaign AND k.user_id = s.user_id AND k.skill = p_skill))
      AND (v_cap IS NULL OR l.load < v_cap)
    ORDER BY (v_last IS NOT NULL AND l.handle COLLATE "C" <= v_last), l.handle COLLATE "C"
    LIMIT 1;
    PERFORM switchboard_fold_counts(p_campaign, v_pieces, v_candidates);
    IF v_user IS NOT NULL THEN
        UPDATE campaigns SET routing_last_user_id = v_user WHERE id = p_campaign;
    END IF;
    RETURN v_user;
END $$;

-- The moves of switchboard_route, for a caller that already holds the conversations and the routing lock.
CREATE FUNCTION switchboard_route_locked(p_campaign bigint, p_ids bigint[], p_policy text, p_skill text,
                                         p_target bigint, p_release boolean, p_batch bigint)
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

-- Handoffs, stale releases and escalations: the conversations first, in id order, then the campaign's routing
-- lock exclusively (a message being routed holds its conversation before it waits for the campaign, so taking
-- them the other way round could deadlock with it), then the moves.
CREATE OR REPLACE FUNCTION switchboard_route(p_campaign bigint, p_ids bigint[], p_policy text, p_skill text,
                                             p_target bigint, p_release boolean, p_batch bigint)
RETURNS TABLE (conversation_id bigint, from_id bigint, to_id bigint) LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM conversations c WHERE c.campaign_id = p_campaign AND c.id = ANY(p_ids) ORDER BY c.id FOR UPDATE;
    PERFORM pg_advisory_xact_lock(7402665, p_campaign::bit(32)::integer);
    RETURN QUERY SELECT * FROM switchboard_route_locked(p_campaign, p_ids, p_policy, p_skill, p_target, p_release, p_batch);
END $$;

-- A reply routed in one round trip, as in 0015; the routing lock is shared unless the policy can reach round robin.
CREATE OR REPLACE FUNCTION switchboard_route_reply(p_campaign bigint, p_conversation bigint, p_policy text)
RETURNS TABLE (batch_id bigint, user_id bigint, handle text) LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_batch bigint := nextval(pg_get_serial_sequence('assignment_batches', 'id'));
    v_to bigint;
    v_handle text;
    v_org bigint;
BEGIN
    IF p_policy = 'round_robin' OR (p_policy = 'skill' AND EXISTS (
        SELECT 1 FROM campaigns k WHERE k.id = p_campaign AND k.routing_fallback = 'round_robin'))
    THEN
        PERFORM pg_advisory_xact_lock(7402665, p_campaign::bit(32)::integer);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(7402665, p_campaign::bit(32)::integer);
    END IF;
    SELECT r.to_id INTO v_to
    FROM switchboard_route_locked(p_campaign, ARRAY[p_conversation], p_policy, NULL, NULL, false, v_batch) r;
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
