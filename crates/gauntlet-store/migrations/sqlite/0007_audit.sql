-- The audit log: append-only events, the leaves of an RFC 6962 Merkle tree, and the tree head
-- stored with each append (its right edge, `frontier`, lets the next append skip the log).
-- Events name their tenant; the log and its tree heads are one per database.
CREATE TABLE audit_events (
    seq            INTEGER PRIMARY KEY,
    time           TEXT    NOT NULL,
    tenant_id      TEXT    NOT NULL,
    actor          TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    resource       TEXT    NOT NULL,
    decision       TEXT,
    reason         TEXT,
    request_id     TEXT,
    payload_digest TEXT,
    details        TEXT    NOT NULL,
    leaf_hash      BLOB    NOT NULL
);
CREATE INDEX audit_events_by_resource ON audit_events (tenant_id, resource, seq);

CREATE TABLE audit_checkpoints (
    tree_size INTEGER PRIMARY KEY,
    root      TEXT NOT NULL,
    time      TEXT NOT NULL,
    frontier  BLOB NOT NULL,
    signature TEXT
);

-- Defence in depth against mistakes, not against an attacker (who can drop triggers): the
-- Merkle tree and signed heads are what make tampering visible.
CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_checkpoints_sign_once BEFORE UPDATE ON audit_checkpoints
WHEN OLD.signature IS NOT NULL OR NEW.root IS NOT OLD.root OR NEW.tree_size IS NOT OLD.tree_size
  OR NEW.frontier IS NOT OLD.frontier OR NEW.time IS NOT OLD.time
BEGIN SELECT RAISE(ABORT, 'a tree head is signed once and never changed'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'tree heads are append-only'); END;
