-- The console's Unassigned list, newest activity first, without sorting the whole pool: on 1,000,000
-- conversations with 100,000 unassigned, the sort took about 250 ms of a 500 ms page. The index holds only
-- unassigned rows, so a move costs an insertion here only when it puts a conversation back in the pool
-- (Unassign All, release, undo); moves out of the pool and between senders insert nothing.
CREATE INDEX conversations_pool_by_activity
    ON conversations (campaign_id, (coalesce(last_message_at, created_at)) DESC, id DESC)
    WHERE assignee_id IS NULL;
