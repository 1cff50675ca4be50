-- The bus's inbox (stapel.kit.bus.PostgresInbox): one row per message a consumer has handled.

-- name: inbox__create :exec
CREATE TABLE IF NOT EXISTS stapel_inbox (
    consumer text NOT NULL,
    message_id text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

-- name: inbox__claim :execrows
INSERT INTO stapel_inbox (consumer, message_id) VALUES (@consumer, @message_id) ON CONFLICT DO NOTHING;
