-- Analytics over the core tables, on plain PostgreSQL (TimescaleDB replaces the daily view
-- with a continuous aggregate in 002_analytics.timescale.sql; same columns).
-- The coach's queries over these live in kinestream/store/queries.py.

-- Best jump per athlete per day.
CREATE OR REPLACE VIEW athlete_daily_best AS
SELECT athlete_id,
       date_trunc('day', recorded_at) AS day,
       max(jump_height_m)             AS best_jump_height_m,
       count(*)                       AS reps
FROM reps
WHERE athlete_id IS NOT NULL AND jump_height_m IS NOT NULL
GROUP BY athlete_id, date_trunc('day', recorded_at);

-- One row per analysed session with its headline numbers (reps as they arrived; the
-- analyses row may still be running).
CREATE OR REPLACE VIEW session_reps AS
SELECT r.stream_id,
       a.analysis_id,
       r.athlete_id,
       r.sport,
       min(r.recorded_at)   AS first_rep_at,
       count(*)             AS reps,
       max(r.jump_height_m) AS best_jump_height_m,
       avg(r.jump_height_m) AS mean_jump_height_m,
       max(r.rsi)           AS best_rsi,
       avg(r.rsi)           AS mean_rsi
FROM reps r
LEFT JOIN analyses a ON a.stream_id = r.stream_id
GROUP BY r.stream_id, a.analysis_id, r.athlete_id, r.sport;

CREATE INDEX IF NOT EXISTS reps_stream_id_rep_jump_idx ON reps (stream_id, rep) INCLUDE (jump_height_m);
