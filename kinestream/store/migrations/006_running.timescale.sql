-- Applied after 006_running.sql only where the TimescaleDB extension is available.

-- Steps are a time series: partition by strike time, keep them as long as the frames.
SELECT create_hypertable(
    'steps', 'strike_at',
    chunk_time_interval => INTERVAL '7 days',
    if_not_exists => TRUE,
    migrate_data => TRUE
);
