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
-- The choice under the shared lock (switchboard_pick_least_loaded): the candidates' committed loads are read,
-- and those at most one above the lowest are tried in order (fewest open conversations, then handle) with
-- pg_try_advisory_xact_lock. A sender whose lock is held is being given a reply by another transaction right now
-- and is passed over. With a lock granted, the sender's load is read again (a fresh snapshot: READ COMMITTED);
-- if other replies committed to it meanwhile and it is now more than one above the lowest, or it has reached
-- max_open, its lock is released again (it was taken inside a PL/pgSQL block left by an error, which undoes the
-- block's locks) and the next is tried. When every sender near the lowest is busy, the choice waits for the
-- lowest one's commit. So a reply goes to a sender at most one above the lowest committed load and every
-- sender stays within two of the lowest at every moment -- at the end, when nothing is in flight, within one of
-- the mean when the replies divide evenly -- and a choice never holds a sender's lock while it waits for another
-- (no deadlock between choices). Sequentially (nothing in flight) the first candidate is always free, so the
-- choice is exactly the least loaded, ties by handle, as before.

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

-- Takes sender p_user of campaign p_campaign for a routed reply: its lock (waiting for it when p_wait, else only
-- when free), then its committed load read afresh. Returns 'taken' (the lock is kept to the commit), 'busy'
-- (another reply holds it), 'full' (at max_open p_cap) or 'ahead' (its load is above p_most, the highest a
-- sender may have and still be given the reply; no bound when NULL). The lock is released again unless taken:
-- it is acquired inside this block, and leaving the block by an error undoes what the block did, lock included.
CREATE FUNCTION switchboard_take_sender(p_campaign bigint, p_user bigint, p_most bigint, p_cap integer,
                                        p_wait boolean) RETURNS text LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_load bigint;
BEGIN
    IF p_wait THEN
        PERFORM pg_advisory_xact_lock((p_campaign << 32) # p_user);
    ELSIF NOT pg_try_advisory_xact_lock((p_campaign << 32) # p_user) THEN
        RETURN 'busy';
    END IF;
    SELECT coalesce(sum(x.n), 0) INTO v_load FROM conversation_counts x
    WHERE x.campaign_id = p_campaign AND x.assignee_id = p_user AND x.status IN ('not_started', 'needs_reply', 'waiting');
    IF p_cap IS NOT NULL AND v_load >= p_cap THEN
        RAISE SQLSTATE 'SB001';
    ELSIF v_load > p_most THEN
        RAISE SQLSTATE 'SB002';
    END IF;
    RETURN 'taken';
EXCEPTION
    WHEN SQLSTATE 'SB001' THEN RETURN 'full';
    WHEN SQLSTATE 'SB002' THEN RETURN 'ahead';
END $$;

-- The least-loaded choice among the candidates of switchboard_pick_sender, as described at the top. p_cap is the
-- campaign's max_open. Returns NULL when nobody can take it. Also folds the campaign's count deltas when the
-- candidates' have piled up.
CREATE FUNCTION switchboard_pick_least_loaded(p_campaign bigint, p_conversation bigint, p_policy text, p_skill text,
                                              p_exclude bigint, p_cap integer) RETURNS bigint LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_order bigint[];
    v_loads bigint[];
    v_lowest bigint;
    v_most bigint;
    v_full bigint[] := '{}';
    v_round integer := 0;
    v_pieces bigint;
    v_candidates bigint;
    v_outcome text;
    v_busy bigint;
    v_moved boolean;
    i integer;
BEGIN
    LOOP
        v_round := v_round + 1;
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
        SELECT array_agg(l.user_id ORDER BY l.load, l.handle COLLATE "C"), array_agg(l.load ORDER BY l.load, l.handle COLLATE "C"),
               min(l.load), sum(l.pieces), count(*)
        INTO v_order, v_loads, v_lowest, v_pieces, v_candidates
        FROM loaded l WHERE p_cap IS NULL OR l.load < p_cap;
        IF v_order IS NULL THEN
            RETURN NULL;
        END IF;
        -- At most one above the lowest; after many rounds (a campaign whose loads keep moving under it), anyone.
        v_most := CASE WHEN v_round <= 50 THEN v_lowest + 1 END;
        v_busy := NULL;
        v_moved := false;
        FOR i IN 1 .. array_length(v_order, 1) LOOP
            EXIT WHEN v_loads[i] > v_most;
            v_outcome := switchboard_take_sender(p_campaign, v_order[i], v_most, p_cap, false);
            IF v_outcome = 'taken' THEN
                PERFORM switchboard_fold_counts(p_campaign, v_pieces, v_candidates);
                RETURN v_order[i];
            ELSIF v_outcome = 'busy' THEN
                v_busy := coalesce(v_busy, v_order[i]);
            ELSE
                v_moved := true;
                IF v_outcome = 'full' THEN
                    v_full := v_full || v_order[i];
                END IF;
            END IF;
        END LOOP;
        IF v_busy IS NOT NULL AND NOT v_moved THEN
            -- Every sender near the lowest is being given a reply right now: wait for the lowest one's commit.
            v_outcome := switchboard_take_sender(p_campaign, v_busy, v_most, p_cap, true);
            IF v_outcome = 'taken' THEN
                PERFORM switchboard_fold_counts(p_campaign, v_pieces, v_candidates);
                RETURN v_busy;
            ELSIF v_outcome = 'full' THEN
                v_full := v_full || v_busy;
            END IF;
        END IF;
        -- Otherwise loads moved since they were read: read them again.
    END LOOP;
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
