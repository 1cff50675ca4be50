-- name: shop__create_tables :exec
CREATE TABLE IF NOT EXISTS customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE IF NOT EXISTS orders_done (order_id int PRIMARY KEY, customer text NOT NULL, attempt int NOT NULL);

-- name: customers__seed :exec
INSERT INTO customers (id, name) VALUES (1, 'Ann'), (2, 'Bob'), (3, 'Eve') ON CONFLICT DO NOTHING;

-- name: customers__get :one
SELECT id, name FROM customers WHERE id = $1;

-- name: orders__done :exec
INSERT INTO orders_done (order_id, customer, attempt) VALUES (@order_id, @customer, @attempt);
