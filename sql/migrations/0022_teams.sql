-- Teams and request approval (wave 3): an organization's named groups of users, campaigns limited to teams and
-- routing within one, and Request Conversations held for an organizer's approval.

CREATE TABLE teams (
    org_id bigint NOT NULL REFERENCES organizations (id),
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (name ~ '^[a-z0-9._-]{1,64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE team_members (
    org_id bigint NOT NULL,
    team_id bigint NOT NULL,
    user_id bigint NOT NULL,
    PRIMARY KEY (team_id, user_id),
    FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);

-- A campaign limited to teams: only their members may be added, join or request. No row: anyone may.
CREATE TABLE campaign_teams (
    org_id bigint NOT NULL,
    campaign_id bigint NOT NULL,
    team_id bigint NOT NULL,
    PRIMARY KEY (campaign_id, team_id),
    FOREIGN KEY (org_id, campaign_id) REFERENCES campaigns (org_id, id),
    FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id)
);

ALTER TABLE campaigns ADD COLUMN routing_team_id bigint,
    ADD COLUMN request_approval boolean NOT NULL DEFAULT false,
    ADD FOREIGN KEY (org_id, routing_team_id) REFERENCES teams (org_id, id);
ALTER TABLE users ADD COLUMN auto_approve boolean NOT NULL DEFAULT false;

-- Request Conversations held for approval. 'pending' older than 24 hours reads as expired.
CREATE TABLE assignment_requests (
    campaign_id bigint NOT NULL REFERENCES campaigns (id),
    id bigint GENERATED ALWAYS AS IDENTITY,
    user_id bigint NOT NULL REFERENCES users (id),
    count integer NOT NULL CHECK (count BETWEEN 1 AND 5000),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz,
    decided_by text,
    note text,
    batch_id bigint,
    granted integer,
    PRIMARY KEY (campaign_id, id)
);
CREATE INDEX assignment_requests_by_id ON assignment_requests (id);
CREATE INDEX assignment_requests_pending ON assignment_requests (campaign_id, user_id) WHERE status = 'pending';

-- An approved request's grant is a batch of its own kind.
ALTER TABLE assignment_batches DROP CONSTRAINT assignment_batches_kind_check;
ALTER TABLE assignment_batches ADD CONSTRAINT assignment_batches_kind_check
    CHECK (kind IN ('reassign_all', 'reassign_some', 'unassign_all', 'reassign', 'self_assign', 'release', 'claim',
                    'undo', 'route', 'handoff', 'release_stale', 'request'));

-- The routing functions take a team now (sql/functions); their old signatures go.
DROP FUNCTION IF EXISTS switchboard_route(bigint, bigint[], text, text, bigint, boolean, bigint);
DROP FUNCTION IF EXISTS switchboard_pick_sender(bigint, bigint, text, text, bigint);
DROP FUNCTION IF EXISTS switchboard_request_more(bigint, bigint, text, integer, text, integer, integer);
