-- Seed 002, section 4.1: what the Execution Engine (the worker) keeps per execution and per step.
-- The seed's inline `INDEX ... (execution_id)` is MySQL syntax; PostgreSQL gets it as CREATE INDEX (section 4.2).
-- +goose Up
CREATE TABLE execution_state (
    execution_id UUID PRIMARY KEY REFERENCES executions(id),
    current_node_id VARCHAR(255),
    context JSONB,                          -- the schema's variables
    updated_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE execution_steps (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    execution_id UUID REFERENCES executions(id),
    node_id VARCHAR(255) NOT NULL,
    node_type VARCHAR(50) NOT NULL,
    input JSONB,
    output JSONB,
    status VARCHAR(50),                     -- success|failed|skipped
    error TEXT,
    started_at TIMESTAMP DEFAULT NOW(),
    finished_at TIMESTAMP
);

CREATE INDEX idx_execution_steps_execution_id ON execution_steps(execution_id);

-- +goose Down
DROP TABLE execution_steps;
DROP TABLE execution_state;
