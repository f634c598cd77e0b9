-- The first conversation id the history run of p_id can hold (see switchboard_history_run).
CREATE OR REPLACE FUNCTION switchboard_history_run_first(p_id bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_id / switchboard_history_run_size() * switchboard_history_run_size()
$$;
