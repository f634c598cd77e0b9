-- Routing's choice: the sender of campaign p_campaign who gets conversation p_conversation under p_policy
-- (round_robin, least_loaded, skill with p_skill and the campaign's fallback), among team p_team's members, else
-- the campaign's routing team's (if it has one), skipping p_exclude, away and deactivated senders, those at
-- max_open and those the campaign's teams do not admit; NULL when nobody can take it. The caller holds the
-- campaign's routing lock (docs/routing.md).
CREATE OR REPLACE FUNCTION switchboard_pick_sender(p_campaign bigint, p_conversation bigint, p_policy text, p_skill text,
                                        p_exclude bigint, p_team bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_cap integer;
    v_last text;
    v_fallback text;
    v_user bigint;
    v_pieces bigint;
    v_candidates bigint;
    v_team bigint;
BEGIN
    IF p_policy = 'manual' THEN
        RETURN NULL;
    END IF;
    SELECT k.max_open, k.routing_fallback, u.handle, coalesce(p_team, k.routing_team_id)
    INTO v_cap, v_fallback, v_last, v_team
    FROM campaigns k LEFT JOIN users u ON u.id = k.routing_last_user_id WHERE k.id = p_campaign;

    WITH candidates AS (
        SELECT s.user_id, (SELECT u.handle FROM users u WHERE u.id = s.user_id) AS handle FROM campaign_senders s
        WHERE s.campaign_id = p_campaign AND s.active AND s.available AND s.user_id IS DISTINCT FROM p_exclude
          AND (v_team IS NULL OR EXISTS (
              SELECT 1 FROM team_members m WHERE m.team_id = v_team AND m.user_id = s.user_id))
          AND switchboard_team_admits(p_campaign, s.user_id)
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
        RETURN switchboard_pick_sender(p_campaign, p_conversation, v_fallback, NULL, p_exclude, p_team);
    END IF;
    IF v_user IS NOT NULL AND p_policy = 'round_robin' THEN
        UPDATE campaigns SET routing_last_user_id = v_user WHERE id = p_campaign;
    END IF;
    RETURN v_user;
END $$;
