#!/usr/bin/env python3
"""stapel.kit against doing it by hand, side by side in one run (issue 11):

1. `db.one` of a primary-key lookup vs the same query through raw psycopg on the same pool (one connection, so
   both run on the same server backend), interleaved in blocks; p50 overhead, goal <= 5 %. Raw psycopg returns
   tuples; two more lines compare like for like: db.one's dicts with raw psycopg's dict_row, and db.one(row=tuple)
   with raw tuples.
2. one JSON log line (stapel.kit.log, with redaction and context variables) vs one line of the standard library's
   logging (`%(asctime)s %(levelname)s %(name)s %(message)s`) to the same sink (a file); goal <= 1.5x.
3. `stapel.kit.config.load` of a settings class with the postgres, redis, rabbitmq and listen blocks: absolute.

PostgreSQL is started by stapel itself (`stapel up --skip-backend` in a temp dir, a free port) and stopped in a
`finally`. Usage: .venv/bin/python benchmarks/kit.py [--queries 3000] [--lines 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def stapel(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "stapel", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_postgres(folder: Path) -> dict[str, str]:
    (folder / "stapel.yaml").write_text(f"""
components:
  db: {{kind: postgres, port: {free_port()}, password: bench-password-x1, database: bench}}
services:
  bench:
    command: python3 -c pass
    env_prefix: BENCH_
    uses: {{db: {{}}}}
""")
    up = stapel(folder, "up", "--skip-backend")
    if up.returncode != 0:
        raise SystemExit(f"stapel up failed:\n{up.stdout}\n{up.stderr}")
    printed = stapel(folder, "env", "print", "--service", "bench", "--format", "json", "--reveal")
    return json.loads(printed.stdout)


QUERIES = """
-- name: users__get :one
SELECT id, email, name FROM users WHERE id = $1;
"""
RAW = "SELECT id, email, name FROM users WHERE id = %s"


async def sql_bench(dsn: str, total: int, block: int = 100) -> dict[str, float]:
    from psycopg.rows import dict_row

    from stapel.kit.sql import Database, parse

    query = {q.name: q for q in parse(QUERIES)}["users__get"]
    db = await Database.connect(dsn, min_size=1, max_size=1, health=False)
    try:
        async with db.pool.connection() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, email text, name text)")
            await conn.execute("INSERT INTO users SELECT i, 'u' || i || '@example.org', 'user ' || i "
                               "FROM generate_series(1, 1000) i ON CONFLICT DO NOTHING")

        async def kit(i: int) -> None:
            await db.one(query, i % 1000 + 1)

        async def kit_tuple(i: int) -> None:
            await db.one(query, i % 1000 + 1, row=tuple)

        async def raw(i: int) -> None:
            async with db.pool.connection() as conn:
                cursor = await conn.execute(RAW, (i % 1000 + 1,))
                await cursor.fetchone()

        async def raw_dict(i: int) -> None:
            async with db.pool.connection() as conn:
                cursor = conn.cursor(row_factory=dict_row)
                await cursor.execute(RAW, (i % 1000 + 1,))
                await cursor.fetchone()

        runs = {"kit": kit, "raw": raw, "raw_dict": raw_dict, "kit_tuple": kit_tuple}
        for i in range(300):  # warm: psycopg prepares the statement after 5 runs
            for run in runs.values():
                await run(i)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for start in range(0, total, block):
            order = list(runs.items())
            turn = (start // block) % len(order)
            for name, run in order[turn:] + order[:turn]:  # each goes first in its turn: drift hits all alike
                for i in range(start, start + block):
                    began = time.perf_counter()
                    await run(i)
                    times[name].append(time.perf_counter() - began)
        return {name: statistics.median(values) for name, values in times.items()}
    finally:
        await db.close()


def log_bench(lines: int, folder: Path, rounds: int = 5) -> dict[str, float]:
    import structlog

    from stapel.kit import log

    results: dict[str, list[float]] = {"kit": [], "stdlib": []}
    for _ in range(rounds):
        for name in ("kit", "stdlib"):
            sink = open(folder / f"{name}.log", "w", encoding="utf-8")  # noqa: SIM115
            try:
                if name == "kit":
                    log.setup("info", stream=sink, secrets=["bench-password-x1", "another-secret-value"])
                    logger = log.get("bench")
                    log.bind(request_id="3f2a9c1e", correlation_id="c-77")
                    began = time.perf_counter()
                    for i in range(lines):
                        logger.info("user created", user_id=i, email="ann@example.org")
                    results[name].append((time.perf_counter() - began) / lines)
                    log.clear()
                else:
                    std = logging.getLogger("bench.stdlib")
                    handler = logging.StreamHandler(sink)
                    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
                    std.handlers[:] = [handler]
                    std.propagate = False
                    std.setLevel(logging.INFO)
                    began = time.perf_counter()
                    for i in range(lines):
                        std.info("user created user_id=%s email=%s", i, "ann@example.org")
                    results[name].append((time.perf_counter() - began) / lines)
            finally:
                sink.close()
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    return {name: statistics.median(values) for name, values in results.items()}


def config_bench(env: dict[str, str], runs: int = 300) -> float:
    from stapel.kit import config

    class BenchConfig(config.Config, prefix="BENCH_"):
        postgres: config.Postgres
        listen: config.Listen
        own_table: str = "users"
        batch_size: int = 100

    os.environ.update({**env, "PORT": "8000"})
    config.load(BenchConfig)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        config.load(BenchConfig)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20000)
    parser.add_argument("--lines", type=int, default=20000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="stapel-bench-kit-", dir="/tmp"))
    folder.chmod(0o755)  # PostgreSQL's unprivileged user must reach its data folder
    try:
        print("starting PostgreSQL with stapel ...", file=sys.stderr, flush=True)
        env = start_postgres(folder)
        sql = asyncio.run(sql_bench(env["BENCH_DATABASE_URL"], args.queries))
        logs = log_bench(args.lines, folder)
        load_time = config_bench(env)
    finally:
        stapel(folder, "down", "--volumes", "--yes")
        shutil.rmtree(folder, ignore_errors=True)
    overhead = sql["kit"] / sql["raw"] - 1
    like_for_like = sql["kit"] / sql["raw_dict"] - 1
    tuples = sql["kit_tuple"] / sql["raw"] - 1
    ratio = logs["kit"] / logs["stdlib"]
    out = io.StringIO()
    out.write(f"{'measure':58} {'stapel.kit':>12} {'by hand':>12} {'ratio':>8} {'goal':>10}\n")
    out.write(f"{'db.one PK lookup vs raw psycopg, same pool (p50)':58} {sql['kit'] * 1e6:10.1f}us "
              f"{sql['raw'] * 1e6:10.1f}us {overhead:+7.1%} {'<= +5%':>10} {'ok' if overhead <= 0.05 else 'MISSED'}\n")
    out.write(f"{'db.one PK lookup vs raw psycopg with dict_row (p50)':58} {sql['kit'] * 1e6:10.1f}us "
              f"{sql['raw_dict'] * 1e6:10.1f}us {like_for_like:+7.1%} {'':>10}\n")
    out.write(f"{'db.one(row=tuple) vs raw psycopg, tuples both (p50)':58} {sql['kit_tuple'] * 1e6:10.1f}us "
              f"{sql['raw'] * 1e6:10.1f}us {tuples:+7.1%} {'':>10}\n")
    out.write(f"{'JSON log line vs stdlib logging line, same file sink':58} {logs['kit'] * 1e6:10.2f}us "
              f"{logs['stdlib'] * 1e6:10.2f}us {ratio:7.2f}x {'<= 1.5x':>10} {'ok' if ratio <= 1.5 else 'MISSED'}\n")
    out.write(f"{'config.load (postgres + listen blocks, 2 fields)':58} {load_time * 1e6:10.1f}us {'':>12} {'':>8} {'':>10}\n")
    print(out.getvalue(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
