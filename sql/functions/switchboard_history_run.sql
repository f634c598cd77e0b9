-- History is stored in runs (docs/ARCHITECTURE.md, "History"): one assignment_moves row per batch, target and
-- block of conversation ids; ids k * switchboard_history_run_size() up to the next block are run k. Every writer
-- groups by this and every reader finds a run by switchboard_history_run_first. IMMUTABLE SQL, so it is inlined
-- where it is used and folded to a constant for a constant id.
CREATE OR REPLACE FUNCTION switchboard_history_run(p_id bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_id / switchboard_history_run_size()
$$;
