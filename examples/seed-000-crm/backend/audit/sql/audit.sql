-- audit's queries; its role sees the schema audit only.

-- name: events__record :exec
INSERT INTO events_log (exchange, event_type, message_id, payload) VALUES (@exchange, @event_type, @message_id, @payload);

-- name: events__list :many
SELECT exchange, event_type, message_id, payload FROM events_log ORDER BY id;
