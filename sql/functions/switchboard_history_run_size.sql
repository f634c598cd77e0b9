-- How many conversation ids one history run spans: the one place this number is written. Changing it needs a
-- migration that regroups the runs already stored (migration 0005 grouped the older history by 1,000 too).
CREATE OR REPLACE FUNCTION switchboard_history_run_size() RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 1000::bigint
$$;
