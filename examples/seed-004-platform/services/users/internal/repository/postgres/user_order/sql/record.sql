-- name: user_order__record :execrows
INSERT INTO user_orders (order_id, user_id, total_cents) VALUES (@order_id, @user_id, @total_cents)
ON CONFLICT (order_id) DO NOTHING;
