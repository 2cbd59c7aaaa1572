-- Runs and their results. Every row carries its tenant; every query filters on it.
-- Result tables are WITHOUT ROWID: rows live in primary-key order and the key is stored once.
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
    cases_total      INTEGER NOT NULL DEFAULT 0,
    passed           INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    errored          INTEGER NOT NULL DEFAULT 0,
    tokens_input     INTEGER NOT NULL DEFAULT 0,
    tokens_output    INTEGER NOT NULL DEFAULT 0,
    cost_usd         REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX runs_by_suite ON runs (tenant_id, suite, started_at);

CREATE TABLE cases (
    tenant_id     TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    idx           INTEGER NOT NULL,
    case_id       TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    score         REAL    NOT NULL,
    input         TEXT    NOT NULL,
    output        TEXT,
    reason        TEXT,
    tokens_input  INTEGER NOT NULL,
    tokens_output INTEGER NOT NULL,
    cost_usd      REAL    NOT NULL,
    latency_ms    REAL    NOT NULL,
    tags          TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, run_id, idx)
) WITHOUT ROWID;

CREATE TABLE steps (
    tenant_id     TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    case_idx      INTEGER NOT NULL,
    step_idx      INTEGER NOT NULL,
    node          TEXT,
    agent         TEXT    NOT NULL,
    provider      TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    input         TEXT    NOT NULL,
    output        TEXT,
    tokens_input  INTEGER NOT NULL,
    tokens_output INTEGER NOT NULL,
    cost_usd      REAL    NOT NULL,
    latency_ms    REAL    NOT NULL,
    model_calls   INTEGER NOT NULL,
    retries       INTEGER NOT NULL,
    error         TEXT,
    violations    TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, run_id, case_idx, step_idx)
) WITHOUT ROWID;

CREATE TABLE tool_calls (
    tenant_id  TEXT    NOT NULL,
    run_id     TEXT    NOT NULL,
    case_idx   INTEGER NOT NULL,
    step_idx   INTEGER NOT NULL,
    call_idx   INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    args       TEXT    NOT NULL,
    result     TEXT,
    error      TEXT,
    latency_ms REAL    NOT NULL,
    PRIMARY KEY (tenant_id, run_id, case_idx, step_idx, call_idx)
) WITHOUT ROWID;

CREATE TABLE assertions (
    tenant_id     TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    case_idx      INTEGER NOT NULL,
    assertion_idx INTEGER NOT NULL,
    type          TEXT    NOT NULL,
    pass          INTEGER NOT NULL,
    score         REAL    NOT NULL,
    weight        REAL    NOT NULL,
    reason        TEXT    NOT NULL,
    node          TEXT,
    metric        TEXT,
    PRIMARY KEY (tenant_id, run_id, case_idx, assertion_idx)
) WITHOUT ROWID;
