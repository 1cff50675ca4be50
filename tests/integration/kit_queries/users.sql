-- Queries of the stapel.kit integration tests (tests/integration/test_kit_sql.py).

-- name: users__create :one
INSERT INTO users (email, name) VALUES (@email, @name) RETURNING id, email, name;

-- name: users__get :one
SELECT id, email, name FROM users WHERE id = $1;

-- name: users__by_email :one
SELECT id, email, name FROM users WHERE email = sqlc.arg(email);

-- name: users__list :many
SELECT id, email, name FROM users ORDER BY id LIMIT $1;

-- name: users__search :many
SELECT id, email, name FROM users
WHERE (sqlc.narg(name)::text IS NULL OR name = sqlc.narg(name)) AND email LIKE '%@' || @domain
ORDER BY id;

-- name: users__rename :execrows
UPDATE users SET name = @name WHERE id = @id;

-- name: users__delete_all :exec
DELETE FROM users;

-- name: users__count :one
SELECT count(*) AS n FROM users;

-- name: users__lock :one
SELECT id FROM users WHERE id = $1 FOR UPDATE;

-- name: slow__sleep :one
SELECT pg_sleep($1) IS NOT NULL AS slept;

-- name: backend__pid :one
SELECT pg_backend_pid() AS pid;

-- name: users__page :many
-- {column}: id | email | name
-- {direction}: ASC | DESC
SELECT id, email, name FROM users ORDER BY {column} {direction}, id LIMIT $1;
