"""stapel.kit.sql on a real PostgreSQL started by stapel itself: every API, row mapping, transactions, statement
timeouts, and the error mapping from real failures (a unique violation, a terminated connection, a deadlock, an
exhausted pool, a refused connection); the settings come from what `stapel env print` gives the service."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from conftest import stapel, stop_and_clean, traversable_dir
from pydantic import BaseModel

from stapel.kit import health
from stapel.kit.config import Config, Postgres, load
from stapel.kit.errors import Conflict, NotFound, QueryArgumentError, Unavailable
from stapel.kit.sql import Database, Queries, StatementTimeout
from stapel.kit.sql import load as load_queries

pytestmark = pytest.mark.integration
QUERIES = Path(__file__).parent / "kit_queries"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class UsersConfig(Config, prefix="USERS_"):
    postgres: Postgres


@dataclass
class User:
    id: int
    email: str
    name: str | None


class UserModel(BaseModel):
    id: int
    email: str
    name: str | None = None


@pytest.fixture(scope="module")
def dsn():
    root = traversable_dir("kit-sql")
    (root / "stapel.yaml").write_text(f"""
components:
  db: {{kind: postgres, port: {free_port()}, password: kit-test-password-1, database: kit}}
services:
  users:
    command: python3 -c pass
    env_prefix: USERS_
    uses: {{db: {{}}}}
""")
    try:
        up = stapel(root, "up", "--skip-backend", timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        printed = stapel(root, "env", "print", "--service", "users", "--format", "json", "--reveal", check=True)
        env = json.loads(printed.stdout)
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            url = load(UsersConfig).postgres.dsn  # the kit reads exactly what stapel gives the service
        finally:
            os.environ.clear()
            os.environ.update(saved)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL "
                         "CONSTRAINT users_email_key UNIQUE, name text)")
        yield url
    finally:
        assert not stop_and_clean(root)


@pytest.fixture(scope="module")
def queries() -> Queries:
    return load_queries(QUERIES)


def run(coro):
    return asyncio.run(coro)


async def fresh(dsn: str, **options) -> Database:
    db = await Database.connect(dsn, **options)
    await db.exec(load_queries(QUERIES)["users__delete_all"])
    return db


def test_one_many_exec_and_row_mapping(dsn: str, queries: Queries) -> None:
    async def scenario() -> None:
        async with await fresh(dsn) as db:
            created = await db.one(queries.users__create, email="ann@example.org", name="Ann")
            assert set(created) == {"id", "email", "name"} and created["email"] == "ann@example.org"
            await db.one(queries.users__create, email="bob@example.org", name=None)
            ann = await db.one(queries.users__get, created["id"], row=User)
            assert ann == User(created["id"], "ann@example.org", "Ann")
            assert await db.one(queries.users__by_email, email="bob@example.org", row=UserModel) == UserModel(
                id=created["id"] + 1, email="bob@example.org")
            listed = await db.many(queries.users__list, 10, row=User)
            assert [u.email for u in listed] == ["ann@example.org", "bob@example.org"]
            assert await db.one(queries.users__get, created["id"], row=tuple) == (created["id"], "ann@example.org", "Ann")
            assert [u["name"] for u in await db.many(queries.users__search, name=None, domain="example.org")] == ["Ann", None]
            assert [u["name"] for u in await db.many(queries.users__search, name="Ann", domain="example.org")] == ["Ann"]
            assert await db.many(queries.users__search, name="Ann", domain="nowhere") == []
            by_email = queries.users__page.choose(column="email", direction="DESC")
            assert [u["email"] for u in await db.many(by_email, 10)] == ["bob@example.org", "ann@example.org"]
            by_id = queries.users__page.choose(column="id", direction="ASC")
            assert [u["email"] for u in await db.many(by_id, 1)] == ["ann@example.org"]
            assert await db.exec(queries.users__rename, id=created["id"], name="Anna") == 1
            assert await db.exec(queries.users__rename, id=-1, name="nobody") == 0
            assert (await db.one(queries.users__count))["n"] == 2
            assert await db.exec(queries.users__delete_all) == 2

    run(scenario())


def test_not_found_and_wrong_calls(dsn: str, queries: Queries) -> None:
    async def scenario() -> None:
        async with await fresh(dsn) as db:
            with pytest.raises(NotFound) as missing:
                await db.one(queries.users__get, 424242)
            assert missing.value.query == "users__get"
            with pytest.raises(QueryArgumentError, match="users__get: expects 1 positional argument, got 2"):
                await db.one(queries.users__get, 1, 2)
            with pytest.raises(QueryArgumentError, match="users__rename: unknown named parameter 'nmae'"):
                await db.exec(queries.users__rename, id=1, nmae="x")
            with pytest.raises(TypeError, match="users__list is a :many query: call db.many"):
                await db.one(queries.users__list, 1)
            with pytest.raises(TypeError, match="takes a named Query"):
                await db.one("SELECT 1")

    run(scenario())


def test_a_real_unique_violation_is_a_conflict(dsn: str, queries: Queries) -> None:
    async def scenario() -> None:
        async with await fresh(dsn) as db:
            await db.one(queries.users__create, email="dup@example.org", name="first")
            with pytest.raises(Conflict) as conflict:
                await db.one(queries.users__create, email="dup@example.org", name="second")
            assert conflict.value.query == "users__create" and conflict.value.constraint == "users_email_key"
            assert isinstance(conflict.value.__cause__, psycopg.errors.UniqueViolation)
            assert (await db.one(queries.users__count))["n"] == 1  # the pool and its connection still work

    run(scenario())


def test_transactions_commit_and_roll_back(dsn: str, queries: Queries) -> None:
    async def scenario() -> None:
        async with await fresh(dsn) as db:
            async with db.transaction() as tx:
                first = await tx.one(queries.users__create, email="t1@example.org", name="one")
                assert await tx.exec(queries.users__rename, id=first["id"], name="uno") == 1
            assert (await db.one(queries.users__get, first["id"]))["name"] == "uno"
            with pytest.raises(RuntimeError):
                async with db.transaction() as tx:
                    await tx.one(queries.users__create, email="t2@example.org", name="two")
                    raise RuntimeError("the caller changes its mind")
            with pytest.raises(Conflict):
                async with db.transaction() as tx:
                    await tx.one(queries.users__create, email="t3@example.org", name="three")
                    await tx.one(queries.users__create, email="t1@example.org", name="dup")
            with pytest.raises(NotFound):
                async with db.transaction() as tx:
                    await tx.exec(queries.users__rename, id=first["id"], name="changed")
                    await tx.one(queries.users__get, -1)
            emails = [u["email"] for u in await db.many(queries.users__list, 10)]
            assert emails == ["t1@example.org"]
            assert (await db.one(queries.users__get, first["id"]))["name"] == "uno"

    run(scenario())


def test_statement_timeouts_of_the_pool_and_of_a_transaction(dsn: str, queries: Queries) -> None:
    async def scenario() -> None:
        async with await fresh(dsn, statement_timeout=0.3) as db:
            assert (await db.one(queries.slow__sleep, 0.05))["slept"] is True
            with pytest.raises(Unavailable) as timed_out:
                await db.one(queries.slow__sleep, 2)
            assert isinstance(timed_out.value, StatementTimeout) and timed_out.value.reason == "statement timeout"
            assert isinstance(timed_out.value, psycopg.errors.QueryCanceled)  # still the driver's meaning too
            assert timed_out.value.diag.sqlstate == "57014" and timed_out.value.query == "slow__sleep"
            with pytest.raises(StatementTimeout):
                async with db.transaction(statement_timeout=0.1) as tx:
                    await tx.one(queries.slow__sleep, 0.25)
            async with db.transaction(statement_timeout=1) as tx:  # SET LOCAL: this transaction only
                assert (await tx.one(queries.slow__sleep, 0.5))["slept"] is True
            with pytest.raises(StatementTimeout):
                await db.one(queries.slow__sleep, 0.5)

    run(scenario())


def test_a_terminated_connection_is_unavailable_and_the_pool_recovers(dsn: str, queries: Queries) -> None:
    async def scenario() -> None:
        async with await fresh(dsn, min_size=1, max_size=1) as db:
            pid = (await db.one(queries.backend__pid))["pid"]
            with psycopg.connect(dsn, autocommit=True) as admin:
                assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
            with pytest.raises(Unavailable) as lost:
                await db.one(queries.users__count)
            assert lost.value.query == "users__count"
            assert isinstance(lost.value.__cause__, psycopg.OperationalError)
            assert (await db.one(queries.users__count))["n"] == 0  # a new connection replaced the broken one
            assert (await db.one(queries.backend__pid))["pid"] != pid

    run(scenario())


def test_a_real_deadlock_is_unavailable(dsn: str, queries: Queries) -> None:
    async def scenario() -> None:
        async with await fresh(dsn, max_size=2) as db:
            a = (await db.one(queries.users__create, email="a@example.org", name="a"))["id"]
            b = (await db.one(queries.users__create, email="b@example.org", name="b"))["id"]
            both_locked = asyncio.Barrier(2)

            async def lock(first: int, second: int) -> None:
                async with db.transaction() as tx:
                    await tx.one(queries.users__lock, first)
                    await both_locked.wait()
                    await tx.one(queries.users__lock, second)

            results = await asyncio.gather(lock(a, b), lock(b, a), return_exceptions=True)
            failures = [r for r in results if isinstance(r, Exception)]
            assert len(failures) == 1 and isinstance(failures[0], Unavailable), results
            assert failures[0].reason == "deadlock detected" and failures[0].query == "users__lock"

    run(scenario())


def test_an_exhausted_pool_and_a_refused_connection_are_unavailable(dsn: str, queries: Queries) -> None:
    async def scenario() -> None:
        async with await fresh(dsn, max_size=1, timeout=0.3) as db, db.transaction():
            with pytest.raises(Unavailable, match="no pooled connection in time"):
                await db.one(queries.users__count)
        with pytest.raises(Unavailable, match="connect postgres"):
            await Database.connect(f"postgresql://nobody:x@127.0.0.1:{free_port()}/none", timeout=1)

    run(scenario())


def test_readiness_runs_select_1_and_metrics_count_each_query(dsn: str, queries: Queries) -> None:
    from prometheus_client import REGISTRY, generate_latest

    async def scenario() -> None:
        db = await fresh(dsn, name="users-db")
        ok, checks = await health.ready()
        assert ok and checks["users-db"] == "ok"
        await db.one(queries.users__count)
        with pytest.raises(NotFound):
            await db.one(queries.users__get, -5)
        text = generate_latest(REGISTRY).decode()
        assert 'stapel_kit_sql_query_duration_seconds_count{query="users__count"}' in text
        assert 'stapel_kit_sql_query_errors_total{error="NotFound",query="users__get"}' in text
        assert 'stapel_kit_sql_pool_size{pool="users-db"}' in text
        await db.close()
        assert "users-db" not in health.default.checks
        assert 'pool="users-db"' not in generate_latest(REGISTRY).decode()

    run(scenario())
