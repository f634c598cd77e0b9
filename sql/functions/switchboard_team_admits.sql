-- Whether campaign p_campaign's teams admit user p_user: a campaign limited to teams (campaign_teams) admits only
-- their members; one with no team, everybody. The one home of the rule: adding senders, joining by invite link,
-- requesting conversations, the eligibility a page shows, and routing all ask it.
CREATE OR REPLACE FUNCTION switchboard_team_admits(p_campaign bigint, p_user bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM campaign_teams t WHERE t.campaign_id = p_campaign)
        OR EXISTS (SELECT 1 FROM campaign_teams t JOIN team_members m ON m.team_id = t.team_id
                   WHERE t.campaign_id = p_campaign AND m.user_id = p_user)
$$;
