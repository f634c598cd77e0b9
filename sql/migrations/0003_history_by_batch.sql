-- A batch's history rows by (campaign, batch), with a B-tree instead of BRIN. With only BRIN, the planner
-- answered `campaign_id = … AND batch_id = …` by scanning the campaign's whole part of
-- assignment_changes_by_conversation, so announcing, listing or undoing one batch cost time in proportion to the
-- campaign's history: self-assign throughput halved within a minute of requests. Batch ids only grow, so inserts
-- land at the right end of their campaign's range (about 0.5 s more per million history rows, measured).
DROP INDEX assignment_changes_by_batch;
CREATE INDEX assignment_changes_by_batch ON assignment_changes (campaign_id, batch_id);
