-- Applied after 002_analytics.sql only where TimescaleDB is available (see migrations.py).
-- `reps` is keyed by (stream_id, rep) and cannot be a hypertable, so the jump heights are
-- mirrored into a small hypertable by trigger; a continuous aggregate over it serves
-- `athlete_daily_best` with the same columns as the plain view.
-- Not exercised by the test suite where the server lacks TimescaleDB.

CREATE TABLE IF NOT EXISTS rep_heights (
    recorded_at    timestamptz NOT NULL,
    athlete_id     text NOT NULL,
    stream_id      text NOT NULL,
    rep            integer NOT NULL,
    jump_height_m  double precision NOT NULL,
    PRIMARY KEY (stream_id, rep, recorded_at)
);
SELECT create_hypertable('rep_heights', 'recorded_at', chunk_time_interval => INTERVAL '7 days',
                         if_not_exists => TRUE, migrate_data => TRUE);

CREATE OR REPLACE FUNCTION mirror_rep_height() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.athlete_id IS NOT NULL AND NEW.jump_height_m IS NOT NULL THEN
        INSERT INTO rep_heights (recorded_at, athlete_id, stream_id, rep, jump_height_m)
        VALUES (NEW.recorded_at, NEW.athlete_id, NEW.stream_id, NEW.rep, NEW.jump_height_m)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS reps_mirror_height ON reps;
CREATE TRIGGER reps_mirror_height AFTER INSERT ON reps
    FOR EACH ROW EXECUTE FUNCTION mirror_rep_height();

INSERT INTO rep_heights (recorded_at, athlete_id, stream_id, rep, jump_height_m)
SELECT recorded_at, athlete_id, stream_id, rep, jump_height_m FROM reps
WHERE athlete_id IS NOT NULL AND jump_height_m IS NOT NULL
ON CONFLICT DO NOTHING;

-- WITH NO DATA: a migration runs in a transaction; the policy fills it.
CREATE MATERIALIZED VIEW IF NOT EXISTS athlete_daily_best_cagg
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT athlete_id,
       time_bucket(INTERVAL '1 day', recorded_at) AS day,
       max(jump_height_m)                          AS best_jump_height_m,
       count(*)                                    AS reps
FROM rep_heights
GROUP BY athlete_id, time_bucket(INTERVAL '1 day', recorded_at)
WITH NO DATA;

SELECT add_continuous_aggregate_policy('athlete_daily_best_cagg',
    start_offset => INTERVAL '30 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);

CREATE OR REPLACE VIEW athlete_daily_best AS
SELECT athlete_id, day, best_jump_height_m, reps FROM athlete_daily_best_cagg;
