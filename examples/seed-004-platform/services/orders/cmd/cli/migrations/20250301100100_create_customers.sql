-- The users the orders service knows, learnt from user.created (no foreign key into another service's schema):
-- an order is accepted only for a known customer.
-- +goose Up
CREATE TABLE customers (
    user_id BIGINT PRIMARY KEY,
    email TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE customers;
