-- What a tenant spent per calendar month (UTC, `YYYY-MM`), added to as each run finishes, so
-- the monthly budget quota reads one row instead of scanning runs.
CREATE TABLE tenant_spend (
    tenant_id   TEXT    NOT NULL,
    month       TEXT    NOT NULL,
    cost_usd    REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, month)
);
INSERT INTO tenant_spend (tenant_id, month, cost_usd)
    SELECT tenant_id, substr(started_at, 1, 7), SUM(cost_usd) FROM runs
    WHERE finished_at IS NOT NULL GROUP BY tenant_id, substr(started_at, 1, 7);

-- The capabilities a platform administrator granted a tenant (JSON; absent: none).
CREATE TABLE tenant_capabilities (
    tenant_id   TEXT    NOT NULL PRIMARY KEY,
    grant_json  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    updated_by  TEXT    NOT NULL
);

-- A tenant's variables and secrets for `${NAME}` / `${secret:NAME}`. A secret's value is
-- sealed (AES-256-GCM, `v1:` nonce and ciphertext in base64) with a key kept outside the
-- database; a variable's is plain text.
CREATE TABLE tenant_values (
    tenant_id   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    updated_by  TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, kind, name)
);

-- Ids that are not given out again: deleted tenants (a new tenant must not read an old one's
-- audit trail), and deleted users (a token naming one is refused, not mapped to its role
-- claim) until an administrator creates the user again.
CREATE TABLE retired_ids (
    kind        TEXT    NOT NULL,
    tenant_id   TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    retired_at  TEXT    NOT NULL,
    PRIMARY KEY (kind, tenant_id, id)
);

-- A key issued by one user for another acts as "issuer for owner" in the audit log.
ALTER TABLE api_keys ADD COLUMN issued_by TEXT;
