-- reports' schema (seed 000: `psql $REPORTS_DATABASE_URL -f migrations/001_init.sql`), run by psql on every
-- `stapel up` as services.reports.migrations.command, as the role reports (search_path reports): idempotent, and
-- recorded in schema_migrations so that what ran, and with which tool, can be seen.
\set ON_ERROR_STOP on

CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    tool text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS event_counts (
    day date NOT NULL,
    event_type text NOT NULL,
    count bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, event_type)
);

CREATE TABLE IF NOT EXISTS backups (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    rows bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO schema_migrations (version, tool) VALUES ('001_init', 'psql') ON CONFLICT (version) DO NOTHING;
