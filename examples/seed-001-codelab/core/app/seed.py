"""Seed 001's test data (scripts/init_db.py's seed): the user test@example.com and its three agents, each with the
Qdrant collection of its semantic memory. stapel runs it after the migrations (services.core.seeds:
`app.seed:init_test_data`, in this folder with the service's env) on `stapel up`, `stapel db init|seed|reset`,
and again only when this file changes; it is idempotent by the unique email and (user_id, name)."""

from __future__ import annotations

import json
import os

import psycopg

TEST_USER = "test@example.com"
AGENTS = {  # name -> config (seed 001: "Тестовые агенты")
    "CodeAssistant": {"description": "Помощник по программированию", "collection": "code_assistant"},
    "DataAnalyst": {"description": "Аналитик данных", "collection": "data_analyst"},
    "DocumentWriter": {"description": "Технический писатель", "collection": "document_writer"},
}


def init_test_data() -> None:
    with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=5) as conn:
        conn.execute("INSERT INTO users (email) VALUES (%s) ON CONFLICT (email) DO NOTHING", (TEST_USER,))
        (user_id,) = conn.execute("SELECT id FROM users WHERE email = %s", (TEST_USER,)).fetchone()
        for name, config in AGENTS.items():
            conn.execute("INSERT INTO user_agents (user_id, name, config) VALUES (%s, %s, %s) "
                         "ON CONFLICT ON CONSTRAINT uq_user_agents_user_id_name DO NOTHING", (user_id, name, json.dumps(config)))
        conn.execute("INSERT INTO user_orchestrators (user_id, config) VALUES (%s, %s) ON CONFLICT (user_id) DO NOTHING",
                     (user_id, json.dumps({"agents": list(AGENTS)})))
    print(f"seeded {TEST_USER} with agents {', '.join(AGENTS)}")
