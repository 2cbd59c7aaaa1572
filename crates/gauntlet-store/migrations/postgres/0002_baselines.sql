-- Named reference runs that later runs are gated against.
CREATE TABLE baselines (
    tenant_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    suite      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
