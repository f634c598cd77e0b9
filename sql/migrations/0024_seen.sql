-- What a texter has seen of a campaign: the last batch when they last opened Assigned to Me, so that what was
-- assigned to them while no tab was open is counted as new on their next visit.
ALTER TABLE campaign_senders ADD COLUMN seen_batch_id bigint;
