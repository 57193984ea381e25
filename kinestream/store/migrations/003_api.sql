-- The HTTP API's tables: API keys with their limits, the per-key request counter every API
-- instance shares, and what the API adds to an analysis (see kinestream/store/api_keys.py
-- and kinestream/store/analyses.py).

-- One row per API key `ks_<key_id>_<secret>`; only the SHA-256 of the secret is kept.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id           text PRIMARY KEY,
    name             text NOT NULL,
    secret_sha256    bytea NOT NULL,
    rate_per_minute  integer NOT NULL CHECK (rate_per_minute > 0),
    max_streams      integer NOT NULL CHECK (max_streams > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz
);

-- Requests of each key in its current fixed one-minute window (one row per key, reset when
-- a request opens a new window): the rate limit holds across API instances.
CREATE TABLE IF NOT EXISTS api_request_windows (
    key_id        text PRIMARY KEY REFERENCES api_keys (key_id) ON DELETE CASCADE,
    window_start  timestamptz NOT NULL,
    requests      integer NOT NULL
);

-- Secrets every API instance shares (the signing key of watch tokens), made on migration.
CREATE TABLE IF NOT EXISTS api_secrets (
    name    text PRIMARY KEY,
    secret  text NOT NULL
);

INSERT INTO api_secrets (name, secret)
VALUES ('watch_token', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''))
ON CONFLICT (name) DO NOTHING;

-- What the API records about an analysis it created: the options it runs with, when a stop was
-- requested (so that the end message is published once), the last frame an ingest socket
-- delivered (the end message's last_seq).
ALTER TABLE analyses
    ADD COLUMN IF NOT EXISTS options jsonb,
    ADD COLUMN IF NOT EXISTS stop_requested_at timestamptz,
    ADD COLUMN IF NOT EXISTS last_seq bigint;

CREATE INDEX IF NOT EXISTS analyses_api_key_id_status_idx ON analyses (api_key_id, status);
