-- The orders each user placed, as the users service learns them from order.placed (its own copy: the orders table is
-- the orders service's). The primary key makes a second delivery of one order a no-op even without the inbox.
-- +goose Up
CREATE TABLE user_orders (
    order_id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    total_cents BIGINT NOT NULL CHECK (total_cents >= 0),
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_user_orders_user_id ON user_orders (user_id);

-- +goose Down
DROP TABLE user_orders;
