"""clients, their documents and tasks, the notifications outbox

Revision ID: 001
Revises:
"""

from alembic import op

revision = "001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE crm.clients (
            id bigserial PRIMARY KEY,
            name text NOT NULL,
            email text NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE documents.documents (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES crm.clients (id),
            path text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE tasks.tasks (
            id bigserial PRIMARY KEY,
            client_id bigint NOT NULL REFERENCES crm.clients (id),
            title text NOT NULL,
            status text NOT NULL DEFAULT 'open',
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_tasks_client_id ON tasks.tasks (client_id);
        CREATE TABLE notifications.outbox (
            id bigserial PRIMARY KEY,
            recipient text NOT NULL,
            text text NOT NULL,
            message_id text NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now()
        );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE notifications.outbox, tasks.tasks, documents.documents, crm.clients")
