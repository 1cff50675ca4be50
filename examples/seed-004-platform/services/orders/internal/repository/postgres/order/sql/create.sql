-- name: order__create :one
INSERT INTO orders (user_id, total_cents) VALUES (@user_id, @total_cents)
RETURNING id, user_id, status, total_cents, created_at;
