-- Core tables. Natural keys throughout, so that at-least-once writers can use
-- INSERT ... ON CONFLICT DO NOTHING and a replay changes nothing.

-- One row per analysis session (one stream of one athlete doing one sport).
CREATE TABLE IF NOT EXISTS analyses (
    analysis_id       text PRIMARY KEY,
    stream_id         text NOT NULL UNIQUE,
    sport             text NOT NULL CHECK (sport IN ('cmj', 'drop_jump', 'squat_jump')),
    athlete_id        text,
    athlete_height_m  double precision NOT NULL CHECK (athlete_height_m > 0),
    box_height_m      double precision,
    status            text NOT NULL DEFAULT 'created',
    api_key_id        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    ended_at          timestamptz,
    summary           jsonb
);

-- One row per completed repetition (a `rep_complete` event); the headline metrics are
-- copied out of `metrics` into columns so they can be queried and indexed.
CREATE TABLE IF NOT EXISTS reps (
    stream_id              text NOT NULL,
    rep                    integer NOT NULL,
    event_id               uuid NOT NULL UNIQUE,
    sport                  text NOT NULL,
    athlete_id             text,
    takeoff_at             timestamptz,
    recorded_at            timestamptz NOT NULL,
    metrics                jsonb NOT NULL,
    quality                jsonb NOT NULL,
    jump_height_m          double precision,
    flight_time_s          double precision,
    ground_contact_time_s  double precision,
    rsi                    double precision,
    PRIMARY KEY (stream_id, rep)
);

CREATE INDEX IF NOT EXISTS reps_athlete_recorded_at_idx ON reps (athlete_id, recorded_at);

-- One row per analysed frame (a `metric_update` event). The key includes the time column
-- so that TimescaleDB can make this a hypertable (see 001_core.timescale.sql).
CREATE TABLE IF NOT EXISTS frame_metrics (
    stream_id         text NOT NULL,
    seq               bigint NOT NULL,
    captured_at       timestamptz NOT NULL,
    phase             text NOT NULL,
    com_height_m      double precision,
    com_velocity_m_s  double precision,
    PRIMARY KEY (stream_id, seq, captured_at)
);

-- Every analysis event, as emitted (see kinestream.events); event ids are deterministic and
-- `position` numbers a stream's events in emission order (NULL for events made outside the
-- dataflow's per-stream step).
CREATE TABLE IF NOT EXISTS events (
    event_id     uuid PRIMARY KEY,
    stream_id    text NOT NULL,
    position     bigint,
    seq          bigint NOT NULL,
    event_index  integer NOT NULL DEFAULT 0,
    event_type   text NOT NULL,
    captured_at  timestamptz NOT NULL,
    payload      jsonb NOT NULL,
    inserted_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS events_stream_id_position_idx ON events (stream_id, position);
