-- Retention: when a run's transcript (inputs, outputs, steps, tool calls) was purged or
-- anonymised. Its verdicts and totals stay; the audit log keeps the transcript's digest.
ALTER TABLE runs ADD COLUMN transcript_purged_at TEXT;
ALTER TABLE runs ADD COLUMN anonymised_at TEXT;
