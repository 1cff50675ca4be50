-- name: order__get :one
SELECT id, user_id, status, total_cents, created_at FROM orders WHERE id = @id;
