-- Records a batch: its row in assignment_batches, in the caller's transaction, so that it exists exactly when
-- the moves it describes commit. Every kind of batch is recorded here: the bulk operations, single reassigns,
-- undo, claims, handoffs and stale releases (from Swift), the self-assign grant and a routed reply (from their
-- functions). The moves themselves are written by the statement that makes them (switchboard_history_run), and
-- the senders are told by switchboard_announce_batch.
CREATE OR REPLACE FUNCTION switchboard_record_batch(
    p_batch bigint, p_campaign bigint, p_kind text, p_actor text, p_status_filter text, p_parameters jsonb,
    p_matched integer, p_moved integer, p_unchanged integer, p_undoes bigint DEFAULT NULL, p_note text DEFAULT NULL
) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO assignment_batches (id, campaign_id, kind, actor, status_filter, parameters, matched, moved, unchanged,
                                    undoes_batch_id, note)
    VALUES (p_batch, p_campaign, p_kind, p_actor, p_status_filter, p_parameters, p_matched, p_moved, p_unchanged,
            p_undoes, p_note);
END $$;
