-- auth's schema (seed 000's backend/auth runs Liquibase through ./gradlew update: no JVM here, so its changesets
-- are goose-format SQL that stapel's own runner applies, recording them in auth.goose_db_version).

-- +goose Up
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    password_hash text NOT NULL,           -- pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>
    role text NOT NULL DEFAULT 'manager',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE users;
