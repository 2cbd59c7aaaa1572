-- Issue 20, the governance gateway.
-- Keys agents present to the gateway, when keys come from the database: the SHA-256 of the
-- secret, bound to a tenant and an agent.
CREATE TABLE gateway_keys (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant_id     TEXT    NOT NULL,
    agent         TEXT    NOT NULL,
    secret_sha256 TEXT    NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
-- Budgets and rate windows: what was used and what is held by requests in flight, per scope
-- (key, agent, tenant), subject and period (`tokens:2026-12-07`, `cost:2026-12`,
-- `rpm:<minute>`, `tpm:<minute>`). A reservation is a conditional update: it succeeds only
-- when used + held + amount stays within the limit.
CREATE TABLE gateway_ledger (
    tenant_id TEXT    NOT NULL,
    scope     TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    period    TEXT    NOT NULL,
    used      INTEGER NOT NULL DEFAULT 0,
    held      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, scope, subject, period)
);
-- Kill switches and suspensions; the global switch has tenant `*`.
CREATE TABLE gateway_switches (
    tenant_id TEXT    NOT NULL,
    scope     TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    reason    TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    at_ms     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, scope, subject)
);
-- One row per forwarded or refused request: telemetry and invoices read it.
CREATE TABLE gateway_usage (
    request_id    TEXT    NOT NULL PRIMARY KEY,
    tenant_id     TEXT    NOT NULL,
    agent         TEXT    NOT NULL,
    key_id        TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    provider      TEXT    NOT NULL,
    at_ms         INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_micro    INTEGER NOT NULL,
    latency_ms    REAL    NOT NULL,
    overhead_us   INTEGER NOT NULL,
    status        INTEGER NOT NULL,
    decision      TEXT    NOT NULL,
    guardrail_hits INTEGER NOT NULL
);
CREATE INDEX gateway_usage_by_time ON gateway_usage (tenant_id, at_ms);
-- Registered agents and their lifecycle: active, retired (refused), archived (hidden).
CREATE TABLE gateway_agents (
    tenant_id     TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    registered_at INTEGER NOT NULL,
    changed_at    INTEGER NOT NULL,
    last_seen     INTEGER,
    PRIMARY KEY (tenant_id, name)
);
