-- Analyses always end (kinestream/store/session_end.py): why an analysis ended, and when an
-- ingest socket last delivered input, so that one the dataflow no longer finishes (its state
-- lost, a stop it never confirmed) can be told apart from a live one and ended by the API.

-- `end_reason`: set when the API ends an analysis itself (`idle_timeout`,
-- `stopped_without_flow`) or relays the dataflow's summary; otherwise the summary's reason.
-- `last_input_at`: the last time an ingest socket recorded delivered input.
ALTER TABLE analyses
    ADD COLUMN IF NOT EXISTS end_reason text,
    ADD COLUMN IF NOT EXISTS last_input_at timestamptz;

-- The analyses still open, for the periodic look for dead ones.
CREATE INDEX IF NOT EXISTS analyses_open_idx ON analyses (created_at)
    WHERE status IN ('created', 'running');
