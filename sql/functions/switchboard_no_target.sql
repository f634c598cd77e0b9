-- Raised by a bulk move whose even split dealt a conversation to a block past the last target: a bug, refused
-- loudly instead of unassigning the row.
CREATE OR REPLACE FUNCTION switchboard_no_target(bucket integer) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a conversation was dealt to block %, which has no target', bucket;
END $$;
