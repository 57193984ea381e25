-- A bout's unseen steps (`unseen_steps` of its `bout_summary`: steps of a foot the camera
-- could not see well enough to time, counted from the feet's alternation) as a column.
--
-- Rows already stored take the count from their `summary` (the whole payload, kept as
-- jsonb), so a bout reads the same whenever it was written. A summary without it (an
-- analysis that did not count unseen steps yet) stays NULL: not counted, which is not the
-- same as none unseen, so no default of 0. The sink writes NULL for such payloads too.
-- `bouts` is a plain table on TimescaleDB as well (only `steps` is a hypertable), so this
-- file serves both and has no companion.
ALTER TABLE bouts ADD COLUMN IF NOT EXISTS unseen_steps integer;

UPDATE bouts
SET unseen_steps = (summary ->> 'unseen_steps')::integer
WHERE unseen_steps IS NULL
  AND jsonb_typeof(summary -> 'unseen_steps') = 'number'
  AND (summary ->> 'unseen_steps') ~ '^[0-9]+$';
