-- audit's schema: what happened, one row per event message (the consumer's inbox makes a redelivery a no-op).

-- +goose Up
CREATE TABLE events_log (
    id bigserial PRIMARY KEY,
    exchange text NOT NULL,
    event_type text NOT NULL,
    message_id text NOT NULL UNIQUE,
    payload jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_events_log_event_type ON events_log (event_type);

-- +goose Down
DROP TABLE events_log;
