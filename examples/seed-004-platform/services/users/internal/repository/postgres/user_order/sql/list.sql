-- name: user_order__list :many
SELECT order_id, total_cents FROM user_orders WHERE user_id = @user_id ORDER BY order_id;
