-- Reply timers (wave 3): how long the oldest Needs Reply of each sender (and of Unassigned) has waited, read by one
-- index probe per sender, and the campaign's Needs Reply ages in buckets, read from the same index alone.
CREATE INDEX conversations_needs_reply_age ON conversations (campaign_id, assignee_id, last_message_at)
    WHERE status = 'needs_reply';
