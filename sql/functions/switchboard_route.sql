-- Routes conversations p_ids of campaign p_campaign (each to p_target, or to whom switchboard_pick_sender picks
-- under p_policy / p_skill / p_team; p_release unassigns the ones nobody can take) as batch p_batch, writing its history
-- runs and count deltas; returns each move. Handoff, escalation and stale release call it under the routing
-- lock.
CREATE OR REPLACE FUNCTION switchboard_route(p_campaign bigint, p_ids bigint[], p_policy text, p_skill text, p_target bigint,
                                  p_release boolean, p_batch bigint, p_team bigint)
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
        v_to := coalesce(p_target, switchboard_pick_sender(p_campaign, v_id, p_policy, p_skill, v_from, p_team));
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
    GROUP BY m.to_id, switchboard_history_run(m.id);
    RETURN QUERY SELECT m.id, m.from_id, m.to_id FROM unnest(v_moved, v_froms, v_tos) AS m (id, from_id, to_id);
END $$;
