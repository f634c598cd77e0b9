-- Trigger function (AFTER INSERT ON campaigns): every new campaign gets its pool start row at '-infinity'
-- (docs/ARCHITECTURE.md, "Self-assign").
CREATE OR REPLACE FUNCTION campaigns_pool_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_pool_starts (campaign_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
