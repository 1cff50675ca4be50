"""stapel.kit.at on a real SQLite file: bad inputs refused, dedup keys, overdue tasks firing at start, a failing
handler tried again, one process per file."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stapel.kit.at import At


def run(coro):
    return asyncio.run(coro)


async def serve_until(at: At, condition, timeout: float = 5.0) -> None:
    runner = asyncio.ensure_future(at.run())
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.01)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        at = await At.open(tmp_path / "at.sqlite3")

        @at.handler("known")
        async def known(payload: object) -> None: ...

        with pytest.raises(LookupError, match="no handler named 'unknown' .registered: known."):
            await at.schedule(1, "unknown", {})
        with pytest.raises(KeyError):  # also a KeyError and a ValueError, whichever a caller expects
            await at.schedule(1, "unknown", {})
        with pytest.raises(TypeError, match="not JSON"):
            await at.schedule(1, "known", object())
        for bad in (-1, float("nan"), float("inf"), "5", None, True, timedelta(seconds=5)):
            with pytest.raises(ValueError, match="delay"):
                await at.schedule(bad, "known", {})
        with pytest.raises(ValueError, match="the payload of 'known' is not JSON"):
            await at.schedule(1, "known", {"when": datetime.now()})
        with pytest.raises(ValueError, match="not JSON"):
            await at.schedule(1, "known", float("nan"))
        with pytest.raises(ValueError, match="dedup_key"):
            await at.schedule(1, "known", {}, dedup_key="")
        for name in ("", None, 3):
            with pytest.raises(ValueError, match="handler name"):
                at.handler(name)
        with pytest.raises(ValueError, match="already registered"):
            at.register("known", lambda payload: None)
        with pytest.raises(TypeError, match="must be a function"):
            at.register("other", "not a function")
        assert at.pending() == 0  # nothing half-written
        with pytest.raises(RuntimeError, match="in use by another process"):
            await At.open(tmp_path / "at.sqlite3")
        await at.close()
        with pytest.raises(RuntimeError, match="closed"):
            await at.schedule(1, "known", {})
        (tmp_path / "junk").write_bytes(b"not a database" * 100)
        with pytest.raises(RuntimeError, match="not a usable SQLite file"):
            await At.open(tmp_path / "junk")

    run(scenario())


def test_tasks_fire_in_order_after_their_delay_and_dedup_keys_collapse(tmp_path: Path) -> None:
    fired: list[tuple[str, float]] = []

    async def scenario() -> None:
        async with await At.open(tmp_path / "at.sqlite3") as at:
            @at.handler("note")
            async def note(payload: dict) -> None:
                fired.append((payload["text"], time.time()))

            start = time.time()
            assert await at.schedule(0.3, "note", {"text": "later"}) is not None
            assert await at.schedule(datetime.now(UTC) + timedelta(seconds=0.1), "note", {"text": "soon"},
                                     dedup_key="soon") is not None
            assert await at.schedule(0.1, "note", {"text": "dup"}, dedup_key="soon") is None
            await serve_until(at, lambda: len(fired) == 2)
            assert [text for text, _ in fired] == ["soon", "later"]
            assert 0.09 < fired[0][1] - start < 0.2 and 0.29 < fired[1][1] - start < 0.4
            assert at.pending() == 0

    run(scenario())


def test_overdue_tasks_fire_at_start_and_a_failing_handler_is_tried_again(tmp_path: Path) -> None:
    calls: list[int] = []

    async def scenario() -> None:
        at = await At.open(tmp_path / "at.sqlite3")
        at.register("flaky", lambda payload: None)
        await at.schedule(0, "flaky", {"n": 1})
        await at.schedule(datetime.now(UTC) - timedelta(hours=1), "flaky", {"n": 2})
        await at.close()  # never served: both are overdue when the file is opened again

        at = await At.open(tmp_path / "at.sqlite3", retry_base=0.05)

        @at.handler("flaky")
        def flaky(payload: dict) -> None:  # a plain function works too
            calls.append(payload["n"])
            if calls.count(payload["n"]) < 3:
                raise ConnectionError("temporarily down")

        await serve_until(at, lambda: at.pending() == 0)
        assert sorted(calls) == [1, 1, 1, 2, 2, 2]
        await at.close()

    run(scenario())


def test_close_stops_a_running_run_and_run_cannot_serve_twice(tmp_path: Path) -> None:
    async def scenario() -> None:
        at = await At.open(tmp_path / "at.sqlite3")
        at.register("noop", lambda payload: None)
        runner = asyncio.ensure_future(at.run())
        await asyncio.sleep(0.05)
        with pytest.raises(RuntimeError, match="already serving"):
            await at.run()
        await at.schedule(3600, "noop", {})
        await at.close()
        assert runner.done() and runner.cancelled()
        again = await At.open(tmp_path / "at.sqlite3")  # the lock was released; the task is still there
        assert again.pending() == 1
        await again.close()

    run(scenario())
