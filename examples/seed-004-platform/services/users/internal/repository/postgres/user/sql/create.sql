-- name: user__create :one
INSERT INTO users (email, display_name) VALUES (@email, @display_name)
RETURNING id, email, display_name, status, created_at;
