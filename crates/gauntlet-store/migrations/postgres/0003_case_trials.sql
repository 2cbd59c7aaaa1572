-- Repetitions of a case (run --repeat, simulate); 0 without repeats.
ALTER TABLE cases ADD COLUMN trial BIGINT NOT NULL DEFAULT 0;
