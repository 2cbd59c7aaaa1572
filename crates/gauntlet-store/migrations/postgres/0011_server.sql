-- The server: tenants, identities, stored suites and the durable run queue.
-- Every row carries its tenant; times the queue compares are milliseconds from `now_ms()`.
CREATE TABLE tenants (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    quotas      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);

CREATE TABLE users (
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    email           TEXT,
    role            TEXT    NOT NULL,
    platform_admin  BIGINT   NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- A JWT subject maps to one user per issuer.
CREATE UNIQUE INDEX users_by_email ON users (tenant_id, email) WHERE email IS NOT NULL;

CREATE TABLE roles (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    permissions TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- Keys are stored as the SHA-256 of the secret; `prefix` identifies a key without revealing it.
CREATE TABLE api_keys (
    tenant_id    TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    expires_at   BIGINT  ,
    revoked_at   TEXT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE suites (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    version     BIGINT   NOT NULL,
    sha256      TEXT    NOT NULL,
    files       TEXT    NOT NULL,
    size        BIGINT   NOT NULL,
    summary     TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);
CREATE UNIQUE INDEX suites_by_hash ON suites (tenant_id, name, sha256);

CREATE TABLE jobs (
    tenant_id           TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                  TEXT    NOT NULL PRIMARY KEY,
    queue               TEXT    NOT NULL,
    state               TEXT    NOT NULL,
    priority            BIGINT   NOT NULL,
    run_at              BIGINT   NOT NULL,
    attempt             BIGINT   NOT NULL DEFAULT 0,
    max_attempts        BIGINT   NOT NULL,
    lease_owner         TEXT,
    lease_expires_at    BIGINT  ,
    heartbeat_at        BIGINT  ,
    deadline_at         BIGINT  ,
    cancel_requested_at BIGINT  ,
    pause_requested_at  BIGINT  ,
    idempotency_key     TEXT,
    last_error          TEXT,
    request             TEXT    NOT NULL,
    created_by          TEXT    NOT NULL,
    created_at          BIGINT   NOT NULL,
    finished_at         BIGINT  
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant_id, queue, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_ready ON jobs (queue, priority, run_at, id) WHERE state IN ('pending', 'retryable');
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, created_at);

-- The journal: each step result of a run, recorded once under its deterministic key.
CREATE TABLE step_results (
    tenant_id TEXT    NOT NULL,
    run_id    TEXT    NOT NULL,
    step_key  TEXT    NOT NULL,
    attempt   BIGINT   NOT NULL,
    output    TEXT    NOT NULL,
    PRIMARY KEY (run_id, step_key)
);
