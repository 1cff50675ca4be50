-- name: order__set_status :one
UPDATE orders SET status = @status WHERE id = @id
RETURNING id, user_id, status, total_cents, created_at;
