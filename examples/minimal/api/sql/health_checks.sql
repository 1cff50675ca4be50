-- The api's queries (stapel.kit.sql loads every .sql file in this folder).

-- A real service creates its tables in goose migrations (`migrations: {dir: ...}` in stapel.yaml); this example
-- keeps its one table here so that examples/minimal stays one service and no migration step.
-- name: health_checks__create_table :exec
CREATE TABLE IF NOT EXISTS health_checks (token text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());

-- name: health_checks__add :exec
INSERT INTO health_checks (token) VALUES (@token);

-- name: health_checks__get :one
SELECT token, at FROM health_checks WHERE token = @token;

-- name: health_checks__prune :execrows
DELETE FROM health_checks WHERE at < now() - interval '1 hour';
