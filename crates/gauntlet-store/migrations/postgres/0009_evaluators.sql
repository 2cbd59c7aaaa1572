-- Issue 5: time to first token and injected chaos faults per step; structured detail and the
-- evaluator's own cost per assertion; the LLM judge's verdict cache.
ALTER TABLE steps ADD COLUMN ttft_ms DOUBLE PRECISION;
ALTER TABLE steps ADD COLUMN faults TEXT;
ALTER TABLE assertions ADD COLUMN details TEXT;
ALTER TABLE assertions ADD COLUMN cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0;

-- Verdicts keyed by a hash of (judge provider, model, rubric, judged content): a rerun asks
-- the judge nothing and reproduces the verdict exactly.
CREATE TABLE judge_cache (
    tenant_id TEXT NOT NULL,
    key TEXT NOT NULL,
    verdict TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
