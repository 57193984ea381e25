-- Running: a sport whose analysis has steps and bouts instead of repetitions.

ALTER TABLE analyses DROP CONSTRAINT IF EXISTS analyses_sport_check;
ALTER TABLE analyses ADD CONSTRAINT analyses_sport_check
    CHECK (sport IN ('cmj', 'drop_jump', 'squat_jump', 'running'));
ALTER TABLE analyses ADD COLUMN IF NOT EXISTS belt_speed_m_s double precision;

ALTER TABLE webhooks DROP CONSTRAINT IF EXISTS webhooks_sport_check;
ALTER TABLE webhooks ADD CONSTRAINT webhooks_sport_check
    CHECK (sport IN ('cmj', 'drop_jump', 'squat_jump', 'running'));

-- Webhooks may ask for running's events (`step` is frequent: only on request).
ALTER TABLE webhooks DROP CONSTRAINT IF EXISTS webhooks_event_types_check;
ALTER TABLE webhooks ADD CONSTRAINT webhooks_event_types_check CHECK (
    cardinality(event_types) > 0
    AND event_types <@ ARRAY['phase_change', 'rep_complete', 'quality_warning', 'error',
                             'session_summary', 'step', 'gait_update', 'bout_summary']::text[]);

-- One row per running step (a `step` event): a time series keyed by the strike's capture
-- time, so that TimescaleDB can make it a hypertable (006_running.timescale.sql).
CREATE TABLE IF NOT EXISTS steps (
    stream_id        text NOT NULL,
    step             integer NOT NULL,
    strike_at        timestamptz NOT NULL,
    event_id         uuid NOT NULL,
    bout             integer NOT NULL,
    athlete_id       text,
    foot             text NOT NULL CHECK (foot IN ('left', 'right')),
    toe_off_at       timestamptz NOT NULL,
    contact_time_s   double precision NOT NULL,
    flight_time_s    double precision,
    step_time_s      double precision,
    step_length_m    double precision,
    speed_m_s        double precision,
    foot_visibility  double precision NOT NULL,
    low_confidence   boolean NOT NULL,
    warnings         jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (stream_id, step, strike_at)
);

CREATE INDEX IF NOT EXISTS steps_athlete_strike_at_idx ON steps (athlete_id, strike_at);

-- One row per bout of running (a `bout_summary` event) with its figures.
CREATE TABLE IF NOT EXISTS bouts (
    stream_id                   text NOT NULL,
    bout                        integer NOT NULL,
    event_id                    uuid NOT NULL UNIQUE,
    athlete_id                  text,
    started_at                  timestamptz NOT NULL,
    ended_at                    timestamptz NOT NULL,
    steps                       integer NOT NULL,
    low_confidence_steps        integer NOT NULL,
    reason                      text NOT NULL,
    cadence_spm                 double precision,
    contact_time_s              double precision,
    flight_time_s               double precision,
    step_time_s                 double precision,
    duty_factor                 double precision,
    left_contact_time_s         double precision,
    right_contact_time_s        double precision,
    contact_time_asymmetry_pct  double precision,
    step_length_m               double precision,
    speed_m_s                   double precision,
    summary                     jsonb NOT NULL,
    PRIMARY KEY (stream_id, bout)
);

CREATE INDEX IF NOT EXISTS bouts_athlete_started_at_idx ON bouts (athlete_id, started_at);
