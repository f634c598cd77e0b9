-- Tells each sender a batch gave conversations to or took them from: one pg_notify on channel
-- switchboard_assignments per sender, sent only if the caller's transaction commits. The payload is what
-- Notifications.Event decodes: {org_id, campaign_id, batch_id, kind, user_id, sender, received, removed}. The
-- parallel arrays hold, for each sender, their user id, handle, and how many conversations they received and
-- gave up.
CREATE OR REPLACE FUNCTION switchboard_announce_batch(
    p_batch bigint, p_campaign bigint, p_kind text, p_user_ids bigint[], p_handles text[], p_received integer[],
    p_removed integer[]
) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_notify('switchboard_assignments', json_build_object(
        'org_id', k.org_id, 'campaign_id', k.id, 'batch_id', p_batch, 'kind', p_kind, 'user_id', x.user_id,
        'sender', x.handle, 'received', x.received, 'removed', x.removed)::text)
    FROM unnest(p_user_ids, p_handles, p_received, p_removed) AS x(user_id, handle, received, removed)
    JOIN campaigns k ON k.id = p_campaign;
END $$;
