-- History rows keep one index, (campaign, batch, conversation), in place of one by conversation and one by batch.
-- Batch ids only grow, so a batch's rows are appended at the right end of the index. The index by conversation
-- took each batch's rows in between every conversation's earlier moves: a million-row batch touched the whole
-- index and split its pages, which made writing history the largest cost of Reassign All beyond the update
-- itself (1M rows into 3M: 2.7–2.9 s with this index alone, against 4.1–5.7 s with the two).
-- A conversation's moves are now found batch by batch through assignment_batches (one index probe per batch of
-- its campaign), which is the rarer question.
DROP INDEX assignment_changes_by_conversation;
DROP INDEX assignment_changes_by_batch;
CREATE INDEX assignment_changes_by_batch ON assignment_changes (campaign_id, batch_id, conversation_id);
