-- +goose Up
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked'));
CREATE INDEX idx_users_status ON users (status);

-- +goose Down
DROP INDEX idx_users_status;
ALTER TABLE users DROP COLUMN status;
