-- name: user__get :one
SELECT id, email, display_name, status, created_at FROM users WHERE id = @id;
