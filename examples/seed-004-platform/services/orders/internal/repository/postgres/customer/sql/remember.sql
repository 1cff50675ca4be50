-- name: customer__remember :execrows
INSERT INTO customers (user_id, email) VALUES (@user_id, @email) ON CONFLICT (user_id) DO NOTHING;
