#!/usr/bin/env python3
"""stapel.kit part 2 against doing it by hand, side by side in one run (issue 12):

1. cache: `Cache.get` of a hit vs raw redis.asyncio `GET` + `json.loads` on the same server, interleaved in
   blocks, one call at a time; p50 of the blocks' per-call time; goal overhead <= 10 %.
2. bus: confirmed publishes/s of `bus.publish` (a pydantic model, contract lookup, headers, retry wrapper) vs raw
   aio-pika `exchange.publish` of the same bytes on a confirming channel, both with 32 in flight, to the same
   exchange; goal >= 0.9x and >= 1,000 msg/s.
3. at: schedules/s (each one an INSERT committed to the SQLite file); goal >= 5,000/s. Firing lateness (fired
   minus due) of 3,000 tasks due at 1,000 a second: p50/p99; goal p99 <= 20 ms.
4. consumer: messages/s drained from a queue by a kit consumer with the PostgreSQL inbox vs the same consumer
   without it (prefetch 64), printed as a ratio.

PostgreSQL, Redis and RabbitMQ are started by stapel itself (`stapel up --skip-backend` in a temp dir on free
ports) and removed in a `finally`. Usage: .venv/bin/python benchmarks/kit2.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
from kit import free_port, stapel  # noqa: E402 - the same helpers as part 1's benchmark

ASYNCAPI = """\
asyncapi: 3.0.0
info: {title: bench, version: 1.0.0}
channels:
  fan:
    address: bench.fan
    bindings: {amqp: {is: routingKey, exchange: {name: bench.fan, type: fanout, durable: true}}}
  work:
    address: bench.work
    bindings: {amqp: {is: queue, queue: {name: bench.work, durable: true, x-dead-letter: true}}}
"""


def start(folder: Path) -> dict[str, str]:
    (folder / "asyncapi.yaml").write_text(ASYNCAPI)
    (folder / "stapel.yaml").write_text(f"""
components:
  db: {{kind: postgres, port: {free_port()}, password: bench-password-x2, database: bench}}
  cache: {{kind: redis, port: {free_port()}, password: bench-cache-x2}}
  mq: {{kind: rabbitmq, port: {free_port()}, management_port: {free_port()}, user: admin, password: bench-mq-x2,
       asyncapi: [asyncapi.yaml]}}
services:
  bench:
    command: python3 -c pass
    env_prefix: B_
    uses: {{db: {{}}, cache: {{}}, mq: {{}}}}
""")
    up = stapel(folder, "up", "--skip-backend")
    if up.returncode != 0:
        raise SystemExit(f"stapel up failed:\n{up.stdout}\n{up.stderr}")
    return json.loads(stapel(folder, "env", "print", "--service", "bench", "--format", "json", "--reveal").stdout)


# --- 1. cache ---------------------------------------------------------------------------------------------------
async def cache_bench(url: str, total: int, block: int = 200) -> dict[str, float]:
    import redis.asyncio as aioredis

    from stapel.kit.cache import Cache

    value = {"id": 123, "email": "ann@example.org", "name": "Ann", "roles": ["admin", "user"], "active": True}
    raw = aioredis.Redis.from_url(url)
    cache = Cache(url, domain="bench", default_ttl=600, readiness=False)
    await cache.set(("profile", 123), value)
    key = cache.key("profile", 123)
    loads = json.loads

    async def kit() -> None:
        await cache.get(key)

    async def by_hand() -> None:
        loads(await raw.get(key))

    times: dict[str, list[float]] = {"kit": [], "raw": []}
    for _ in range(block):  # warm both
        await kit()
        await by_hand()
    for _ in range(total // block):
        for name, call in (("kit", kit), ("raw", by_hand)):
            started = time.perf_counter()
            for _ in range(block):
                await call()
            times[name].append((time.perf_counter() - started) / block)
    await cache.close()
    await raw.aclose()
    return {name: statistics.median(values) for name, values in times.items()}


# --- 2. bus -----------------------------------------------------------------------------------------------------
async def publish_bench(url: str, contract: Path, total: int, in_flight: int = 32, rounds: int = 3) -> dict[str, float]:
    import aio_pika

    from stapel.kit.bus import Bus, Message

    class Event(Message):
        n: int
        text: str

    bus = await Bus.connect(url, contract)
    connection = await aio_pika.connect_robust(url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange("bench.fan", ensure=False)

    async def run(publish) -> float:
        gate = asyncio.Semaphore(in_flight)

        async def one(n: int) -> None:
            async with gate:
                await publish(n)

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(total)))
        return total / (time.perf_counter() - started)

    async def kit(n: int) -> None:
        await bus.publish("fan", Event(n=n, text="hello"))

    async def raw(n: int) -> None:
        body = Event(n=n, text="hello").model_dump_json().encode()
        await exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                                content_type="application/json", message_id=os.urandom(16).hex()),
                               routing_key="bench.fan")

    rates: dict[str, list[float]] = {"kit": [], "raw": []}
    await run(kit)
    await run(raw)
    for _ in range(rounds):
        rates["kit"].append(await run(kit))
        rates["raw"].append(await run(raw))
    await bus.close()
    await connection.close()
    return {name: statistics.median(values) for name, values in rates.items()}


# --- 3. at ------------------------------------------------------------------------------------------------------
async def at_bench(folder: Path, schedules: int, due: int, rate: int = 1000) -> dict[str, float]:
    from stapel.kit.at import At

    at = await At.open(folder / "bench-at.sqlite3")
    lateness: list[float] = []

    @at.handler("noop")
    async def noop(payload: dict) -> None:
        lateness.append(time.time() - payload["due"])

    started = time.perf_counter()
    for n in range(schedules):
        await at.schedule(3600 + n, "noop", {"n": n, "due": 0})
    per_second = schedules / (time.perf_counter() - started)
    at.db.execute("DELETE FROM tasks")

    first = time.time() + 0.5
    for n in range(due):
        when = first + n / rate
        await at.schedule(when - time.time(), "noop", {"n": n, "due": when})
    runner = asyncio.ensure_future(at.run())
    while len(lateness) < due:
        await asyncio.sleep(0.05)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await at.close()
    ordered = sorted(lateness)
    return {"schedules_per_s": per_second, "p50": ordered[len(ordered) // 2],
            "p99": ordered[int(len(ordered) * 0.99) - 1], "max": ordered[-1]}


# --- 4. consumer with and without the inbox ---------------------------------------------------------------------
async def consumer_bench(url: str, dsn: str, contract: Path, total: int) -> dict[str, float]:
    from stapel.kit.bus import Bus, Message, PostgresInbox
    from stapel.kit.sql import Database

    class Job(Message):
        n: int

    db = await Database.connect(dsn, max_size=8, name="bench-inbox")
    inbox = PostgresInbox(db)
    await inbox.setup()
    bus = await Bus.connect(url, contract, publish_attempts=3)
    rates = {}
    for name, options in (("bare", {}), ("inbox", {"inbox": inbox})):
        gate = asyncio.Semaphore(64)

        async def one(n: int) -> None:
            async with gate:  # noqa: B023 - awaited within this iteration
                await bus.publish("work", Job(n=n))

        await asyncio.gather(*(one(n) for n in range(total)))
        done = asyncio.Event()
        count = [0]

        async def handle(job: Job) -> None:
            count[0] += 1  # noqa: B023 - awaited within this iteration
            if count[0] == total:  # noqa: B023 - as above
                done.set()  # noqa: B023 - as above

        started = time.perf_counter()
        consumer = await bus.consume("work", handle, prefetch=64, name=f"bench-{name}", model=Job,
                                        **options)
        await asyncio.wait_for(done.wait(), 300)
        rates[name] = total / (time.perf_counter() - started)
        await consumer.stop()
        bus.consumers.remove(consumer)
    await bus.close()
    await db.close()
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    folder = Path(tempfile.mkdtemp(prefix="stapel-bench-kit2-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        print("starting PostgreSQL, Redis and RabbitMQ with stapel ...", file=sys.stderr, flush=True)
        env = start(folder)
        contract = folder / "asyncapi.yaml"
        cache = asyncio.run(cache_bench(env["B_REDIS_URL"], int(20000 * scale)))
        publish = asyncio.run(publish_bench(env["B_RABBITMQ_URL"], contract, int(5000 * scale)))
        at = asyncio.run(at_bench(folder, int(10000 * scale), int(3000 * scale)))
        consume = asyncio.run(consumer_bench(env["B_RABBITMQ_URL"], env["B_DATABASE_URL"], contract,
                                             int(3000 * scale)))
    finally:
        stapel(folder, "down", "--volumes", "--yes")
        shutil.rmtree(folder, ignore_errors=True)
    rows = [
        ("cache get hit vs redis-py GET + json.loads, p50", f"{cache['kit'] * 1e6:.1f} µs", f"{cache['raw'] * 1e6:.1f} µs",
         f"{(cache['kit'] / cache['raw'] - 1) * 100:+.1f} %", "<= +10 %"),
        ("confirmed publishes/s, 32 in flight, vs raw aio-pika", f"{publish['kit']:,.0f}/s", f"{publish['raw']:,.0f}/s",
         f"{publish['kit'] / publish['raw']:.2f}x", ">= 0.9x, >= 1,000/s"),
        ("at: schedules/s (one committed INSERT each)", f"{at['schedules_per_s']:,.0f}/s", "", "", ">= 5,000/s"),
        ("at: firing lateness at 1,000 due/s, p50 / p99 / max",
         f"{at['p50'] * 1000:.1f} / {at['p99'] * 1000:.1f} / {at['max'] * 1000:.1f} ms", "", "", "p99 <= 20 ms"),
        ("consumer msgs/s, PostgreSQL inbox vs none (prefetch 64)", f"{consume['inbox']:,.0f}/s",
         f"{consume['bare']:,.0f}/s", f"{consume['inbox'] / consume['bare']:.2f}x", "(printed)"),
    ]
    print(f"{'measure':58} {'stapel.kit':>22} {'by hand':>12} {'ratio':>8} {'goal':>20}")
    for row in rows:
        print(f"{row[0]:58} {row[1]:>22} {row[2]:>12} {row[3]:>8} {row[4]:>20}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
