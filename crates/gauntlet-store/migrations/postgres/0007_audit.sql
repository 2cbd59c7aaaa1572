-- The audit log: append-only events, the leaves of an RFC 6962 Merkle tree, and the tree head
-- stored with each append (its right edge, `frontier`, lets the next append skip the log).
-- Events name their tenant; the log and its tree heads are one per database.
CREATE TABLE audit_events (
    seq            BIGINT PRIMARY KEY,
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
    leaf_hash      BYTEA   NOT NULL
);
CREATE INDEX audit_events_by_resource ON audit_events (tenant_id, resource, seq);

CREATE TABLE audit_checkpoints (
    tree_size BIGINT PRIMARY KEY,
    root      TEXT NOT NULL,
    time      TEXT NOT NULL,
    frontier  BYTEA NOT NULL,
    signature TEXT
);

-- Defence in depth against mistakes, not against an attacker (who can drop triggers): the
-- Merkle tree and signed heads are what make tampering visible.
CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_refuse();

CREATE FUNCTION audit_sign_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'tree heads are append-only'; END IF;
  IF OLD.signature IS NOT NULL OR NEW.root IS DISTINCT FROM OLD.root
     OR NEW.tree_size IS DISTINCT FROM OLD.tree_size OR NEW.frontier IS DISTINCT FROM OLD.frontier
     OR NEW.time IS DISTINCT FROM OLD.time THEN
    RAISE EXCEPTION 'a tree head is signed once and never changed';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_checkpoints_sign_once BEFORE UPDATE OR DELETE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION audit_sign_once();
