-- Issue 3: the provider that served a step when its own failed over to a fallback, and the
-- streaming throughput of its model calls.
ALTER TABLE steps ADD COLUMN served_by TEXT;
ALTER TABLE steps ADD COLUMN tokens_per_s DOUBLE PRECISION;
