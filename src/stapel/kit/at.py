"""`at`: durable delayed tasks in one SQLite file (seed 002 section 6), at least once.

    at = await At.open(".local/data/worker/at.sqlite3")

    @at.handler("remind")                       # a name, since a closure cannot be persisted
    async def remind(payload: dict) -> None: ...

    await at.schedule(30, "remind", {"user": 7}, dedup_key="remind:7")   # seconds, or a datetime
    await at.run()                              # serves due tasks until cancelled; overdue ones fire at once
    await at.close()

A task is a row (due time, handler name, JSON payload); it is deleted only after its handler returned, so a kill
-9 loses nothing: after a restart every task fires, and one fires twice only if its handler was running at the
kill. A failing handler's task is tried again later (exponential backoff with jitter, capped, forever: the row
stays until it succeeds; the failures are logged and counted). A `dedup_key` already pending makes `schedule` a
no-op. One process owns a file (a lock beside it). The file is in WAL mode with synchronous=NORMAL: durable
across process crashes; a power loss may forget the last few schedules.

Metrics: stapel_kit_at_scheduled_total{handler}, stapel_kit_at_fired_total{handler,result}, stapel_kit_at_due
(tasks due now and not yet done), stapel_kit_at_lateness_seconds{handler} (firing time minus due time).
"""

from __future__ import annotations

import asyncio
import fcntl
import inspect
import json
import math
import os
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from stapel.kit import _metrics, log

__all__ = ["At", "Handler", "InvalidTask", "UnknownHandler"]

Handler = Callable[[Any], Awaitable[Any]]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    due REAL NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedup_key TEXT UNIQUE,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_due ON tasks (due);
"""


class InvalidTask(ValueError, TypeError):
    """A delay, payload or dedup key `schedule` cannot take; nothing was written."""


class UnknownHandler(InvalidTask, KeyError):
    """`schedule` with a name no handler was registered under."""

    def __str__(self) -> str:  # KeyError's own would quote the message
        return str(self.args[0]) if self.args else ""


def due_time(when: float | int | datetime, now: float) -> float:
    """A delay in seconds (>= 0) or a datetime (naive ones are local time, as datetime.timestamp() reads them)."""
    if isinstance(when, datetime):
        return when.timestamp()
    if isinstance(when, bool) or not isinstance(when, (int, float)) or math.isnan(when) or math.isinf(when):
        raise InvalidTask(f"at: the delay is a number of seconds or a datetime, got {when!r}")
    if when < 0:
        raise InvalidTask(f"at: a delay cannot be negative (got {when}); pass a datetime for a moment in the past")
    return now + when


class At:
    """Use `await At.open(path)`; the constructor takes an open connection."""

    def __init__(self, db: sqlite3.Connection, path: Path, lock: int, *, concurrency: int = 100,
                 retry_base: float = 1.0, retry_max: float = 300.0, name: str = "at") -> None:
        self.db, self.path, self._lock = db, path, lock
        self.concurrency, self.retry_base, self.retry_max, self.name = concurrency, retry_base, retry_max, name
        self.handlers: dict[str, Handler] = {}
        self._inflight: dict[int, asyncio.Task] = {}
        self._wake = asyncio.Event()
        self._next = math.inf
        self._closed = False
        self._runner: asyncio.Task | None = None
        self.logger = log.get("stapel.kit.at", at=name)
        self._scheduled = _metrics.counter("stapel_kit_at_scheduled_total", "Tasks scheduled.", ("handler",))
        self._fired = _metrics.counter("stapel_kit_at_fired_total", "Tasks fired, by result.", ("handler", "result"))
        self._due = _metrics.gauge("stapel_kit_at_due", "Tasks due now, not yet done.", ("at",)).labels(name)
        self._lateness = _metrics.histogram("stapel_kit_at_lateness_seconds", "Firing time minus due time.",
                                            ("handler",))

    @classmethod
    async def open(cls, path: str | os.PathLike, **options: Any) -> At:
        """Open (or create) the file, its folder too; a file another process holds is an error."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            raise RuntimeError(f"at: {path} is in use by another process (one process owns an at file)") from None
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            os.close(lock)
            raise RuntimeError(f"at: {path}: not a usable SQLite file ({exc})") from None
        return cls(db, path, lock, **options)

    # --- registration and scheduling --------------------------------------------------------------------------
    def handler(self, name: str) -> Callable[[Handler], Handler]:
        """Register the decorated function (taking the JSON payload) under `name`."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"at: a handler name is a non-empty string, got {name!r}")

        def register(func: Handler) -> Handler:
            self.register(name, func)
            return func

        return register

    def register(self, name: str, func: Handler) -> None:
        if not callable(func):
            raise TypeError(f"at: handler {name!r} must be a function taking the payload")
        if name in self.handlers and self.handlers[name] is not func:
            raise ValueError(f"at: a handler named {name!r} is already registered")
        self.handlers[name] = func

    async def schedule(self, when: float | int | datetime, name: str, payload: Any = None,
                       dedup_key: str | None = None) -> int | None:
        """Persist a task; its id, or None when `dedup_key` is already pending."""
        self._open()
        if name not in self.handlers:
            known = ", ".join(sorted(self.handlers)) or "none"
            raise UnknownHandler(f"at: no handler named {name!r} (registered: {known}); register it with @at.handler")
        if dedup_key is not None and (not isinstance(dedup_key, str) or not dedup_key):
            raise InvalidTask(f"at: dedup_key is a non-empty string or None, got {dedup_key!r}")
        try:
            data = json.dumps(payload, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidTask(f"at: the payload of {name!r} is not JSON: {exc}") from None
        now = time.time()
        due = due_time(when, now)
        cursor = self.db.execute("INSERT OR IGNORE INTO tasks (due, name, payload, dedup_key, created) "
                                 "VALUES (?, ?, ?, ?, ?)", (due, name, data, dedup_key, now))
        if not cursor.rowcount:
            return None
        self._scheduled.labels(name).inc()
        if due < self._next:
            self._next = due
            self._wake.set()
        return cursor.lastrowid

    def pending(self) -> int:
        """Tasks not done yet (due or not)."""
        return self.db.execute("SELECT count(*) FROM tasks").fetchone()[0]

    # --- serving ----------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Fire due tasks (up to `concurrency` at once) until cancelled (or closed)."""
        self._open()
        if self._runner is not None:
            raise RuntimeError("at: run() is already serving this file")
        self._runner = asyncio.current_task()
        try:
            while True:
                self._wake.clear()
                now = time.time()
                free = self.concurrency - len(self._inflight)
                if free > 0:
                    rows = self.db.execute("SELECT id, due, name, payload, attempts FROM tasks WHERE due <= ? "
                                           "ORDER BY due LIMIT ?", (now, free + len(self._inflight))).fetchall()
                    started = 0
                    for row in rows:
                        if row[0] not in self._inflight and started < free:
                            self._inflight[row[0]] = asyncio.ensure_future(self._fire(*row))
                            started += 1
                    self._due.set(len(rows))
                    if started == free:  # more may be due: look again at once
                        await asyncio.sleep(0)
                        continue
                upcoming = self.db.execute("SELECT min(due) FROM tasks WHERE due > ?", (now,)).fetchone()[0]
                self._next = upcoming if upcoming is not None else math.inf
                wait = min(self._next - time.time(), 1.0)
                if wait > 0:
                    try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel racing the event
                        async with asyncio.timeout(wait):
                            await self._wake.wait()
                    except TimeoutError:
                        pass
        finally:
            self._runner = None
            await self._drain()

    async def _fire(self, task_id: int, due: float, name: str, payload: str, attempts: int) -> None:
        started = time.time()
        self._lateness.timer(name).observe(max(0.0, started - due))
        func = self.handlers.get(name)
        try:
            if func is None:
                raise LookupError(f"no handler named {name!r} is registered in this process")
            result = func(json.loads(payload))
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            attempts += 1
            delay = min(self.retry_max, self.retry_base * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
            self.db.execute("UPDATE tasks SET due = ?, attempts = ? WHERE id = ?", (time.time() + delay, attempts, task_id))
            self._fired.labels(name, "failed").inc()
            self.logger.error("at task failed, tried again later", handler=name, task=task_id, attempts=attempts,
                              retry_in_s=round(delay, 3), error=type(exc).__name__, exc_info=exc)
        else:
            self.db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
            self._fired.labels(name, "ok").inc()
        finally:
            self._inflight.pop(task_id, None)
            self._wake.set()

    async def _drain(self, timeout: float = 5.0) -> None:
        """Let running handlers finish (their rows are deleted then); cancel what is still running after that."""
        if not self._inflight:
            return
        done, running = await asyncio.wait(list(self._inflight.values()), timeout=timeout)
        for task in running:
            task.cancel()

    async def close(self) -> None:
        if self._closed:
            return
        runner = self._runner
        if runner is not None and runner is not asyncio.current_task():  # stop serving first
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        await self._drain()
        self._closed = True
        self.db.close()
        os.close(self._lock)

    def _open(self) -> None:
        if self._closed:
            raise RuntimeError("at: closed")

    async def __aenter__(self) -> At:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.close()
