-- History in the order moves took effect. A batch takes its id before it moves anything (its history rows carry
-- it), so a self-assign that took id 10 may claim after a batch with id 11 moved the same conversation.
-- `effect_seq` is taken when the batch row is written, after the move, while the moved rows are still locked:
-- any later batch touching the same conversation waits for this one to commit and takes a higher number.
CREATE SEQUENCE assignment_batches_effect_seq;
ALTER TABLE assignment_batches ADD COLUMN effect_seq bigint;
UPDATE assignment_batches b SET effect_seq = o.n
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM assignment_batches) o WHERE o.id = b.id;
SELECT setval('assignment_batches_effect_seq', coalesce((SELECT max(effect_seq) FROM assignment_batches), 1),
              (SELECT count(*) > 0 FROM assignment_batches));
ALTER TABLE assignment_batches ALTER COLUMN effect_seq SET DEFAULT nextval('assignment_batches_effect_seq'),
                               ALTER COLUMN effect_seq SET NOT NULL;
ALTER SEQUENCE assignment_batches_effect_seq OWNED BY assignment_batches.effect_seq;

-- Dealing fails loudly: a conversation whose computed block has no target raises this error (and its
-- transaction rolls back) instead of being unassigned by an out-of-range array subscript.
CREATE FUNCTION switchboard_no_target(bucket integer) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a conversation was dealt to block %, which has no target', bucket;
END $$;
