-- Recorded provider and tool interactions, mirrored from the cassette files.
CREATE TABLE cassettes (
    tenant_id TEXT NOT NULL,
    suite     TEXT NOT NULL,
    key       TEXT NOT NULL,
    entry     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, suite, key)
);
