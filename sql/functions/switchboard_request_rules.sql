-- The rules on what a sender already holds, for Request Conversations: with require_finished_batch, nothing Not
-- Started ('unfinished_batch', detail [how many]); with max_open, fewer open than the cap ('cap_reached', detail
-- [open, cap]). Else 'ok', detail [open conversations counted against the cap, 0 without one]. The one home of
-- these rules: switchboard_request_more asks it under its locks before it claims, and a page asks it (without
-- locks) whether to offer the button and what to say instead (SelfAssignService.eligibility).
-- Reads only what it needs, so it costs the same however many conversations the sender holds: the Not Started
-- ones (few: a finished batch is the rule), and the open ones up to the cap.
CREATE OR REPLACE FUNCTION switchboard_request_rules(p_campaign bigint, p_user bigint)
RETURNS TABLE (outcome text, detail integer[]) LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_finished boolean;
    v_cap integer;
    v_not_started integer;
    v_open integer := 0;
BEGIN
    SELECT k.require_finished_batch, k.max_open INTO v_finished, v_cap FROM campaigns k WHERE k.id = p_campaign;
    IF v_finished THEN
        SELECT count(*) INTO v_not_started FROM conversations c
        WHERE c.campaign_id = p_campaign AND c.assignee_id = p_user AND c.status = 'not_started';
        IF v_not_started > 0 THEN
            RETURN QUERY SELECT 'unfinished_batch'::text, ARRAY[v_not_started];
            RETURN;
        END IF;
    END IF;
    IF v_cap IS NOT NULL THEN
        SELECT count(*) INTO v_open FROM (
            SELECT 1 FROM conversations c
            WHERE c.campaign_id = p_campaign AND c.assignee_id = p_user AND c.status NOT IN ('closed', 'opted_out')
            LIMIT v_cap
        ) held;
        IF v_open >= v_cap THEN
            -- Refused: now the exact number, for the sentence.
            SELECT count(*) INTO v_open FROM conversations c
            WHERE c.campaign_id = p_campaign AND c.assignee_id = p_user AND c.status NOT IN ('closed', 'opted_out');
            RETURN QUERY SELECT 'cap_reached'::text, ARRAY[v_open, v_cap];
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT 'ok'::text, ARRAY[v_open];
END $$;
