-- The outcome of comparing the targets of a run (leaderboard, significance, winners).
CREATE TABLE experiments (
    tenant_id  TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    report     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, run_id)
);
