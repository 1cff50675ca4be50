-- backend-api's and backend-worker's queries (stapel.kit.sql, sqlc's annotations) on seed 002's tables
-- (migrations/, section 4.1).

-- name: schemas__create :one
INSERT INTO schemas (name, description, definition, status, created_by)
VALUES (@name, sqlc.narg(description), @definition, 'active', sqlc.narg(created_by)) RETURNING id;

-- name: schemas__get :one
SELECT id, name, description, definition, status, created_at FROM schemas WHERE id = $1;

-- name: executions__create :one
INSERT INTO executions (schema_id, trigger_type, trigger_payload, created_by)
VALUES (@schema_id, @trigger_type, @trigger_payload, sqlc.narg(created_by)) RETURNING id, status;

-- name: executions__get :one
SELECT e.id, e.schema_id, e.status, e.error, e.started_at, e.finished_at, e.trigger_payload, s.definition,
       st.current_node_id, st.context
FROM executions e JOIN schemas s ON s.id = e.schema_id LEFT JOIN execution_state st ON st.execution_id = e.id
WHERE e.id = $1;

-- name: executions__start :exec
UPDATE executions SET status = 'running', error = NULL, started_at = coalesce(started_at, now()) WHERE id = $1;

-- name: executions__finish :exec
UPDATE executions SET status = @status, error = sqlc.narg(error), finished_at = now() WHERE id = @id;

-- name: executions__pause :exec
UPDATE executions SET status = 'paused', error = @error WHERE id = @id;

-- name: state__save :exec
INSERT INTO execution_state (execution_id, current_node_id, context, updated_at) VALUES (@execution_id, sqlc.narg(node_id), @context, now())
ON CONFLICT (execution_id) DO UPDATE SET current_node_id = excluded.current_node_id, context = excluded.context, updated_at = now();

-- name: steps__start :one
INSERT INTO execution_steps (execution_id, node_id, node_type, input, status) VALUES (@execution_id, @node_id, @node_type, @input, 'running')
RETURNING id;

-- name: steps__finish :exec
UPDATE execution_steps SET status = @status, output = sqlc.narg(output), error = sqlc.narg(error), finished_at = now() WHERE id = @id;

-- name: steps__of_execution :many
SELECT node_id, node_type, status, input, output, error FROM execution_steps WHERE execution_id = $1 ORDER BY started_at, id;
