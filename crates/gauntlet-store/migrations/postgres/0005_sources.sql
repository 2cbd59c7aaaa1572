-- The specification files a run was made from, content-addressed (identical files across runs
-- are stored once), so a stored run can be re-executed (`gauntlet replay`).
-- A rowid table: contents are written in chunks through incremental blob I/O.
CREATE TABLE sources (
    tenant_id TEXT NOT NULL,
    sha256    TEXT NOT NULL,
    content   BYTEA NOT NULL,
    PRIMARY KEY (tenant_id, sha256)
);

CREATE TABLE run_sources (
    tenant_id TEXT NOT NULL,
    run_id    TEXT NOT NULL,
    path      TEXT NOT NULL,
    sha256    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, run_id, path)
);
