-- The core service's queries (stapel.kit.sql: sqlc's annotations); the tables are app/models.py's.

-- name: users__by_email :one
SELECT id, email FROM users WHERE email = $1;

-- name: agents__of_user :many
SELECT id, name, status, config FROM user_agents WHERE user_id = $1 ORDER BY name;

-- name: agents__by_name :one
SELECT id, name, status FROM user_agents WHERE user_id = $1 AND name = $2;

-- name: agents__set_status :exec
UPDATE user_agents SET status = @status WHERE id = @id;

-- name: sessions__create :one
INSERT INTO chat_sessions (user_id) VALUES ($1) RETURNING id, user_id;

-- name: sessions__get :one
SELECT id, user_id FROM chat_sessions WHERE id = $1;

-- name: messages__add :one
INSERT INTO messages (session_id, role, content, agent_id) VALUES (@session_id, @role, @content, sqlc.narg(agent_id))
RETURNING id;

-- name: messages__of_session :many
SELECT role, content, agent_id FROM messages WHERE session_id = $1 ORDER BY created_at, id;

-- name: tasks__create :one
INSERT INTO tasks (session_id, agent_id) VALUES (@session_id, @agent_id) RETURNING id, status;

-- name: tasks__start :execrows
UPDATE tasks SET status = 'running', started_at = now() WHERE id = $1 AND status = 'queued';

-- name: tasks__finish :exec
UPDATE tasks SET status = @status, result = @result, completed_at = now() WHERE id = @id;

-- name: tasks__get :one
SELECT t.id, t.status, t.result, a.name AS agent, t.created_at, t.started_at, t.completed_at
FROM tasks t JOIN user_agents a ON a.id = t.agent_id WHERE t.id = $1;

-- name: tasks__count_by_status :many
SELECT status, count(*) AS n FROM tasks GROUP BY status;
