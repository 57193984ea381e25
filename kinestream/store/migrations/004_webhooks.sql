-- Webhook registrations (managed by the API, kinestream/webhooks/registry.py) and
-- their deliveries (made by the dispatcher, `kinestream webhooks`). Plain PostgreSQL.

-- One row per registered webhook, owned by an API key. A webhook receives its key's events
-- of the listed types, of one sport where `sport` is set, of one analysis where
-- `analysis_id` is set (lowercase hyphenated UUID). `secret` signs the deliveries (HMAC), so
-- it is kept here; deleting the row deletes it and the webhook's deliveries.
CREATE TABLE IF NOT EXISTS webhooks (
    webhook_id   uuid PRIMARY KEY,
    api_key_id   text NOT NULL CHECK (api_key_id <> ''),
    url          text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    event_types  text[] NOT NULL CHECK (
        cardinality(event_types) > 0
        AND event_types <@ ARRAY['phase_change', 'rep_complete', 'quality_warning', 'error',
                                 'session_summary']::text[]),
    sport        text CHECK (sport IN ('cmj', 'drop_jump', 'squat_jump')),
    analysis_id  text,
    secret       text NOT NULL CHECK (length(secret) >= 32),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS webhooks_api_key_id_idx ON webhooks (api_key_id, created_at);

-- One row per (event, matching webhook). `delivery_id` is a UUID 5 over the event id and the
-- webhook id, so an event the dispatcher reads twice makes one delivery. `body` is the JSON
-- object POSTed (json, not jsonb: kept as written, keys in their order). A delivery is `pending` until it is `delivered` (2xx) or `dead` (its last
-- try failed); `next_attempt_at` is when a pending one is due (a dispatcher working on it
-- moves it forward by a lease, so no other takes it meanwhile). A dead delivery is put on
-- the dead-letter topic, then `dead_lettered_at` is set.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id       uuid PRIMARY KEY,
    webhook_id        uuid NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    event_id          uuid NOT NULL,
    event_type        text NOT NULL,
    analysis_id       text NOT NULL,
    body              json NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at   timestamptz DEFAULT now(),
    last_error        text,
    last_status_code  integer,
    delivered_at      timestamptz,
    dead_lettered_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
    CHECK (dead_lettered_at IS NULL OR status = 'dead')
);

-- Due pending deliveries, oldest due first (the dispatchers' claim query).
CREATE INDEX IF NOT EXISTS webhook_deliveries_due_idx
    ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- Dead deliveries still to put on the dead-letter topic.
CREATE INDEX IF NOT EXISTS webhook_deliveries_dead_letter_idx
    ON webhook_deliveries (created_at) WHERE status = 'dead' AND dead_lettered_at IS NULL;

-- A webhook's deliveries, newest last (and the cascade when a webhook is deleted).
CREATE INDEX IF NOT EXISTS webhook_deliveries_webhook_id_idx
    ON webhook_deliveries (webhook_id, created_at);
