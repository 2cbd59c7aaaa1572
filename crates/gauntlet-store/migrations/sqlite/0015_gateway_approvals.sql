-- Issue 20, the governance gateway: requests a policy holds for a person's approval, and the
-- zombie alerts already sent.
-- An approval covers one request (by the SHA-256 of its tenant, agent and body) and is used
-- once: `pending` → `approved` | `denied` → `used` (an approved request went through).
-- The preview is the request's texts as the provider would see them (PII already replaced).
CREATE TABLE gateway_approvals (
    id           TEXT    NOT NULL PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    agent        TEXT    NOT NULL,
    key_id       TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    model        TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    preview      TEXT    NOT NULL,
    request_id   TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    requested_at INTEGER  NOT NULL,
    decided_at   INTEGER,
    decided_by   TEXT,
    note         TEXT
);
CREATE INDEX gateway_approvals_by_request ON gateway_approvals (tenant_id, agent, digest);
CREATE INDEX gateway_approvals_by_state ON gateway_approvals (tenant_id, state, requested_at);
-- When a silent agent was last reported as a zombie (one alert per silence).
ALTER TABLE gateway_agents ADD COLUMN zombie_alerted_at INTEGER;
