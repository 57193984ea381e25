-- Applied after 001_core.sql only where the TimescaleDB extension is available.
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- Per-frame metrics are time series: partition by capture time, keep 90 days.
SELECT create_hypertable(
    'frame_metrics', 'captured_at',
    chunk_time_interval => INTERVAL '1 day',
    if_not_exists => TRUE,
    migrate_data => TRUE
);

SELECT add_retention_policy('frame_metrics', INTERVAL '90 days', if_not_exists => TRUE);
