-- reports' queries; its role sees the schema reports only.

-- name: counts__bump :exec
INSERT INTO event_counts (day, event_type, count) VALUES (current_date, @event_type, 1)
ON CONFLICT (day, event_type) DO UPDATE SET count = event_counts.count + 1;

-- name: counts__today :many
SELECT event_type, count FROM event_counts WHERE day = current_date ORDER BY event_type;

-- name: backups__create :one
INSERT INTO backups (name, rows) SELECT @name, coalesce(sum(count), 0) FROM event_counts RETURNING id, name, rows;
