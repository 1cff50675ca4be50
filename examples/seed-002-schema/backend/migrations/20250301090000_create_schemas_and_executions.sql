-- Seed 002, section 4.1: the schemas (graphs of nodes and edges) and their executions.
-- +goose Up
CREATE TABLE schemas (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    description TEXT,
    definition JSONB NOT NULL,              -- JSON with the nodes and edges
    status VARCHAR(50) DEFAULT 'draft',     -- draft|active|archived
    created_by VARCHAR(255),
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE executions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    schema_id UUID REFERENCES schemas(id),
    status VARCHAR(50) DEFAULT 'pending',   -- pending|running|paused|completed|failed
    trigger_type VARCHAR(50),               -- manual|webhook|scheduler
    trigger_payload JSONB,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    created_by VARCHAR(255),
    error TEXT
);

CREATE TABLE users (                        -- a stub for later
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email VARCHAR(255) UNIQUE NOT NULL,
    created_at TIMESTAMP DEFAULT NOW()
);

CREATE INDEX idx_schemas_status ON schemas(status);
CREATE INDEX idx_executions_schema_id ON executions(schema_id);
CREATE INDEX idx_executions_status ON executions(status);

-- +goose Down
DROP TABLE users;
DROP TABLE executions;
DROP TABLE schemas;
