-- Runs and their results. Every row carries its tenant; every query filters on it.
-- Results are keyed by (tenant, run, index); every row carries its tenant.
CREATE TABLE runs (
    tenant_id        TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    project          TEXT    NOT NULL,
    suite            TEXT    NOT NULL,
    seed             TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    config_hash      TEXT    NOT NULL,
    config_snapshot  TEXT    NOT NULL,
    gauntlet_version TEXT    NOT NULL,
    started_at       TEXT    NOT NULL,
    finished_at      TEXT,
    cases_total      BIGINT NOT NULL DEFAULT 0,
    passed           BIGINT NOT NULL DEFAULT 0,
    failed           BIGINT NOT NULL DEFAULT 0,
    errored          BIGINT NOT NULL DEFAULT 0,
    tokens_input     BIGINT NOT NULL DEFAULT 0,
    tokens_output    BIGINT NOT NULL DEFAULT 0,
    cost_usd         DOUBLE PRECISION    NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX runs_by_suite ON runs (tenant_id, suite, started_at);

CREATE TABLE cases (
    tenant_id     TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    idx           BIGINT NOT NULL,
    case_id       TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    score         DOUBLE PRECISION    NOT NULL,
    input         TEXT    NOT NULL,
    output        TEXT,
    reason        TEXT,
    tokens_input  BIGINT NOT NULL,
    tokens_output BIGINT NOT NULL,
    cost_usd      DOUBLE PRECISION    NOT NULL,
    latency_ms    DOUBLE PRECISION    NOT NULL,
    tags          TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, run_id, idx)
);

CREATE TABLE steps (
    tenant_id     TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    case_idx      BIGINT NOT NULL,
    step_idx      BIGINT NOT NULL,
    node          TEXT,
    agent         TEXT    NOT NULL,
    provider      TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    input         TEXT    NOT NULL,
    output        TEXT,
    tokens_input  BIGINT NOT NULL,
    tokens_output BIGINT NOT NULL,
    cost_usd      DOUBLE PRECISION    NOT NULL,
    latency_ms    DOUBLE PRECISION    NOT NULL,
    model_calls   BIGINT NOT NULL,
    retries       BIGINT NOT NULL,
    error         TEXT,
    violations    TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, run_id, case_idx, step_idx)
);

CREATE TABLE tool_calls (
    tenant_id  TEXT    NOT NULL,
    run_id     TEXT    NOT NULL,
    case_idx   BIGINT NOT NULL,
    step_idx   BIGINT NOT NULL,
    call_idx   BIGINT NOT NULL,
    name       TEXT    NOT NULL,
    args       TEXT    NOT NULL,
    result     TEXT,
    error      TEXT,
    latency_ms DOUBLE PRECISION    NOT NULL,
    PRIMARY KEY (tenant_id, run_id, case_idx, step_idx, call_idx)
);

CREATE TABLE assertions (
    tenant_id     TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    case_idx      BIGINT NOT NULL,
    assertion_idx BIGINT NOT NULL,
    type          TEXT    NOT NULL,
    pass          BIGINT NOT NULL,
    score         DOUBLE PRECISION    NOT NULL,
    weight        DOUBLE PRECISION    NOT NULL,
    reason        TEXT    NOT NULL,
    node          TEXT,
    metric        TEXT,
    PRIMARY KEY (tenant_id, run_id, case_idx, assertion_idx)
);
