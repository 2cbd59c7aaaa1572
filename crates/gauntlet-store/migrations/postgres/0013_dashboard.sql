-- Issue 19, the dashboard: what a view needs that the reports did not.
-- Each step's place on its case's timeline and what it spent its time on (JSON spans).
ALTER TABLE steps ADD COLUMN start_ms DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN spans TEXT;
-- A graph case's route: every node's state and every edge's decision (JSON).
ALTER TABLE cases ADD COLUMN trace TEXT;
-- Statistics of a finished run (latency percentiles, usage by agent and model, assertions by
-- type), so a run's page reads one row however many cases it has.
ALTER TABLE runs ADD COLUMN stats TEXT;
-- The newest runs first, whatever their suite.
CREATE INDEX runs_by_time ON runs (tenant_id, started_at, id);

-- The targets and tags of a run's cases, for filtering the run list.
CREATE TABLE run_facets (
    tenant_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    value     TEXT NOT NULL,
    run_id    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, value, run_id)
);

-- Dashboard sessions: the cookie holds a random secret, the table its SHA-256. A session acts
-- as its user with their current role (capped by the API key's role when it began with a key),
-- and ends at its expiry, at logout, or when an administrator revokes it.
CREATE TABLE web_sessions (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    key_id      TEXT,
    method      TEXT    NOT NULL,
    csrf        TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    user_agent  TEXT    NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX web_sessions_by_user ON web_sessions (tenant_id, user_id);

-- Single sign-on logins under way: the state, nonce and PKCE verifier of each authorisation
-- request, used once (so any instance can finish a login another began).
CREATE TABLE web_logins (
    state       TEXT    NOT NULL PRIMARY KEY,
    nonce       TEXT    NOT NULL,
    verifier    TEXT    NOT NULL,
    return_to   TEXT    NOT NULL,
    expires_at  BIGINT NOT NULL
);
