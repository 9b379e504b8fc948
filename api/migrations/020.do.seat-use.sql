-- Issue 33: a PC that notices its user. Its worker watches logind; a session on the PC's own seat makes the PC in use
-- (placement leaves it alone, as in a lecture) until `in_use_until`, set at the last logout to the idle time after it.
ALTER TABLE nodes
  ADD COLUMN in_use_since timestamptz,
  ADD COLUMN in_use_by text,
  ADD COLUMN in_use_until timestamptz;
