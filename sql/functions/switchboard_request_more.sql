-- Request Conversations in one call (docs/ARCHITECTURE.md, "Self-assign"): the campaign's rules (its teams
-- admit the sender; with request approval on and the sender not auto-approved, a pending request is recorded, or
-- the one already waiting returned, instead of a grant: outcome 'pending', its id in batch_id), the campaign
-- lock shared, the sender's row lock (so max_open holds), a claim slot, the claim of the oldest pool rows from the
-- pool start with FOR UPDATE SKIP LOCKED, history runs, count deltas, the batch row and its notification. Returns
-- the granted conversations, or one row whose `outcome` names the refusal. With p_request, an organizer approves
-- that request: the grant is a batch of kind 'request' (RequestService records the decision).
CREATE OR REPLACE FUNCTION switchboard_request_more(
    p_campaign bigint, p_org bigint, p_handle text, p_count integer, p_actor text, p_lock_key integer,
    p_claim_slots integer, p_request bigint
) RETURNS TABLE (
    outcome text, detail integer[], batch_id bigint, conversation_id bigint, phone text, name text, status text,
    unread boolean, last_message_at timestamptz, created_at timestamptz
) LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_campaign campaigns%ROWTYPE;
    v_user bigint;
    v_active boolean;
    v_rule text;
    v_detail integer[];
    v_open integer;
    v_wanted integer;
    v_batch bigint;
    v_granted integer;
    v_counting text;
    v_ids bigint[];
    v_moves_start boolean;
    v_kind text := CASE WHEN p_request IS NULL THEN 'self_assign' ELSE 'request' END;
    v_parameters jsonb;
    v_pending bigint;
BEGIN
    SELECT * INTO v_campaign FROM campaigns k WHERE k.id = p_campaign AND (p_org IS NULL OR k.org_id = p_org);
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_campaign', NULL::integer[], NULL::bigint, NULL::bigint, NULL::text, NULL::text,
                            NULL::text, NULL::boolean, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    IF NOT v_campaign.self_assign THEN
        RETURN QUERY SELECT 'self_assign_disabled', NULL::integer[], NULL::bigint, NULL::bigint, NULL::text, NULL::text,
                            NULL::text, NULL::boolean, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    -- Organizers first (CampaignLock): claims hold the campaign's lock shared, batches exclusively.
    PERFORM pg_advisory_xact_lock_shared(p_lock_key, 0);

    SELECT u.id INTO v_user FROM users u WHERE u.org_id = v_campaign.org_id AND u.handle = p_handle;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_sender', NULL::integer[], NULL::bigint, NULL::bigint, NULL::text, NULL::text,
                            NULL::text, NULL::boolean, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    -- One sender's requests run one at a time; NO KEY UPDATE does not conflict with assignments to the sender.
    SELECT s.active INTO v_active FROM campaign_senders s
    WHERE s.campaign_id = p_campaign AND s.user_id = v_user FOR NO KEY UPDATE;
    IF NOT FOUND OR NOT v_active THEN
        RETURN QUERY SELECT CASE WHEN v_active IS NULL THEN 'not_a_sender' ELSE 'sender_deactivated' END,
                            NULL::integer[], NULL::bigint, NULL::bigint, NULL::text, NULL::text, NULL::text,
                            NULL::boolean, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    IF NOT switchboard_team_admits(p_campaign, v_user) THEN
        RETURN QUERY SELECT 'not_in_team', NULL::integer[], NULL::bigint, NULL::bigint, NULL::text, NULL::text,
                            NULL::text, NULL::boolean, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;

    -- The rules on what the sender holds (switchboard_request_rules), now that the sender's row is held.
    SELECT r.outcome, r.detail INTO v_rule, v_detail FROM switchboard_request_rules(p_campaign, v_user) r;
    IF v_rule <> 'ok' THEN
        RETURN QUERY SELECT v_rule, v_detail, NULL::bigint, NULL::bigint, NULL::text, NULL::text, NULL::text,
                            NULL::boolean, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    -- Held for approval: one waiting request per sender (the sender's row lock makes it one).
    IF p_request IS NULL AND v_campaign.request_approval
       AND NOT (SELECT u.auto_approve FROM users u WHERE u.id = v_user) THEN
        SELECT r.id INTO v_pending FROM assignment_requests r
        WHERE r.campaign_id = p_campaign AND r.user_id = v_user AND r.status = 'pending'
          AND r.created_at > now() - interval '24 hours';
        IF NOT FOUND THEN
            INSERT INTO assignment_requests (campaign_id, user_id, count)
            VALUES (p_campaign, v_user, least(coalesce(p_count, v_campaign.batch_size), v_campaign.batch_size))
            RETURNING id INTO v_pending;
            PERFORM pg_notify('switchboard_assignments', json_build_object(
                'org_id', v_campaign.org_id, 'campaign_id', p_campaign, 'batch_id', NULL, 'kind', 'request_pending',
                'user_id', v_user, 'sender', p_handle, 'received', 0, 'removed', 0, 'request_id', v_pending)::text);
        END IF;
        RETURN QUERY SELECT 'pending', NULL::integer[], v_pending, NULL::bigint, NULL::text, NULL::text, NULL::text,
                            NULL::boolean, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    v_open := v_detail[1];
    v_wanted := least(coalesce(p_count, v_campaign.batch_size), v_campaign.batch_size,
                      coalesce(v_campaign.max_open - v_open, v_campaign.batch_size));

    -- A claim slot: a free one if any, else wait for one picked at random.
    IF p_claim_slots > 0 AND NOT EXISTS (
        SELECT 1 FROM generate_series(1, p_claim_slots) AS slot WHERE pg_try_advisory_xact_lock(p_lock_key, -slot)
    ) THEN
        PERFORM pg_advisory_xact_lock(p_lock_key, -(1 + floor(random() * p_claim_slots))::integer);
    END IF;

    v_batch := nextval(pg_get_serial_sequence('assignment_batches', 'id'));
    -- The claim writes its own count deltas (migration 0006); the row trigger stays out of it.
    v_counting := current_setting('switchboard.counts_written', true);
    PERFORM set_config('switchboard.counts_written', 'on', true);
    -- Rows locked by other claims are skipped; the UPDATE re-checks that each is still free, so the deltas are
    -- exact. The granted rows are returned here; the batch row follows once their number is known.
    SELECT array_agg(free.id) INTO v_ids FROM (
        SELECT c.id FROM conversations c
        WHERE c.campaign_id = p_campaign AND c.assignee_id IS NULL AND c.status = 'not_started'
          AND (c.created_at, c.id) >= (
              coalesce((SELECT f.created_at FROM campaign_pool_starts f WHERE f.campaign_id = p_campaign), '-infinity'),
              coalesce((SELECT f.id FROM campaign_pool_starts f WHERE f.campaign_id = p_campaign), 0))
        ORDER BY c.created_at, c.id LIMIT v_wanted
        FOR UPDATE OF c SKIP LOCKED
    ) free;
    RETURN QUERY
    WITH claimed AS (
        UPDATE conversations c SET assignee_id = v_user, updated_at = now()
        WHERE c.campaign_id = p_campaign AND c.id = ANY (v_ids)
          AND c.assignee_id IS NULL AND c.status = 'not_started'
        RETURNING c.id, c.status, c.unread, c.last_message_at, c.created_at
    ),
    history AS (
        INSERT INTO assignment_moves (campaign_id, batch_id, to_assignee_id, first_conversation_id,
                                      last_conversation_id, conversation_ids, from_assignee_ids)
        SELECT p_campaign, v_batch, v_user, min(m.id), max(m.id), array_agg(m.id), array_agg(NULL::bigint)
        FROM claimed m GROUP BY switchboard_history_run(m.id)
    ),
    counted AS (
        INSERT INTO conversation_counts (campaign_id, assignee_id, status, n)
        SELECT p_campaign, sides.assignee_id, sides.status, sides.n FROM (
            SELECT NULL::bigint AS assignee_id, m.status, -count(*) AS n FROM claimed m GROUP BY m.status
            UNION ALL
            SELECT v_user, m.status, count(*) FROM claimed m GROUP BY m.status
        ) sides
    )
    SELECT 'granted', ARRAY[coalesce(p_count, v_campaign.batch_size)], v_batch, m.id, p.phone, p.name, m.status, m.unread, m.last_message_at,
           m.created_at
    FROM claimed m JOIN contacts p ON p.campaign_id = p_campaign AND p.id = m.id
    ORDER BY m.created_at, m.id;
    GET DIAGNOSTICS v_granted = ROW_COUNT;
    PERFORM set_config('switchboard.counts_written', coalesce(v_counting, 'off'), true);
    IF v_granted = 0 THEN
        RETURN QUERY SELECT 'pool_empty', NULL::integer[], NULL::bigint, NULL::bigint, NULL::text, NULL::text,
                            NULL::text, NULL::boolean, NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;

    UPDATE campaign_senders s SET last_active_at = now() WHERE s.campaign_id = p_campaign AND s.user_id = v_user;
    v_parameters := jsonb_build_object('requested', coalesce(p_count, v_campaign.batch_size)::text, 'sender', p_handle);
    IF p_request IS NOT NULL THEN
        v_parameters := v_parameters || jsonb_build_object('request', p_request::text);
    END IF;
    PERFORM switchboard_record_batch(v_batch, p_campaign, v_kind, p_actor, 'not_started', v_parameters,
                                     v_granted, v_granted, 0);
    PERFORM switchboard_announce_batch(v_batch, p_campaign, v_kind, ARRAY[v_user], ARRAY[p_handle],
                                       ARRAY[v_granted], ARRAY[0]);
    -- The pool's start moves to the first row still unclaimed (see the top of this file), unless another claim
    -- or a writer putting conversations back holds it. Last, so that the start's row is held only until COMMIT.
    -- A release running alongside holds (campaign, 1) shared for its whole transaction (CampaignLock).
    v_moves_start := pg_try_advisory_xact_lock(p_lock_key, 1);
    IF v_moves_start THEN
        PERFORM 1 FROM campaign_pool_starts f WHERE f.campaign_id = p_campaign FOR UPDATE SKIP LOCKED;
        v_moves_start := FOUND;
    END IF;
    IF v_moves_start THEN
        UPDATE campaign_pool_starts f
        SET (created_at, id) = (SELECT coalesce(min(first.created_at), 'infinity'), coalesce(min(first.id), 0) FROM (
            SELECT c.created_at, c.id FROM conversations c
            WHERE c.campaign_id = p_campaign AND c.assignee_id IS NULL AND c.status = 'not_started'
              AND (c.created_at, c.id) >= (f.created_at, f.id)
            ORDER BY c.created_at, c.id LIMIT 1) first)
        WHERE f.campaign_id = p_campaign;
    END IF;
END $$;
