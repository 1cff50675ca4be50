"""stapel.kit.log: one JSON object per line, UTC ISO-8601 timestamps, DEBUG/INFO/WARN/ERROR from LOG_LEVEL, stack
traces as a field, secrets redacted, context variables in every line, jobs and steps, size-based rotation."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from datetime import datetime
from pathlib import Path

import pytest
import structlog

from stapel.kit import log

SECRET = "hunter2-very-secret"


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch):
    """setup() writing into a buffer; returns a function that parses what was written so far."""
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    buffer = io.StringIO()

    def configure(level: str | None = None, **kwargs) -> io.StringIO:
        log.setup(level, stream=buffer, **kwargs)
        return buffer

    def parsed() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    parsed.configure = configure
    yield parsed
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()
    log.clear()


def test_one_json_object_per_line_with_utc_timestamp_and_level(lines) -> None:
    lines.configure()
    log.get("users").info("user created", user_id=7)
    log.get().warning("slow")
    first, second = lines()
    assert first["event"] == "user created" and first["user_id"] == 7 and first["logger"] == "users"
    assert first["level"] == "INFO" and second["level"] == "WARN"
    stamp = datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
    assert first["timestamp"].endswith("Z") and stamp.utcoffset().total_seconds() == 0


def test_level_comes_from_log_level_and_filters(lines, monkeypatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "warn")
    lines.configure()
    log.get().info("hidden")
    log.get().debug("hidden too")
    log.get().error("shown")
    logging.getLogger("psycopg").info("stdlib hidden")
    logging.getLogger("psycopg").error("stdlib shown")
    assert [(e["level"], e["event"]) for e in lines()] == [("ERROR", "shown"), ("ERROR", "stdlib shown")]


def test_an_unknown_level_stops_with_one_line(lines, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LOG_LEVEL", "verbose")
    with pytest.raises(SystemExit) as exited:
        lines.configure()
    assert exited.value.code == 1
    assert capsys.readouterr().err == "log: LOG_LEVEL: expected one of DEBUG, INFO, WARN, ERROR, got 'VERBOSE'\n"


def test_the_standard_library_is_bridged_into_the_same_json(lines) -> None:
    lines.configure("debug")
    logging.getLogger("uvicorn.error").debug("started %s", "server", extra={"port": 8000})
    (event,) = lines()
    assert event["event"] == "started server" and event["logger"] == "uvicorn.error" and event["level"] == "DEBUG"
    assert event["port"] == 8000 and "timestamp" in event


def test_secrets_are_redacted_everywhere(lines) -> None:
    from pydantic import SecretStr

    from stapel.kit.config import Config

    class Settings(Config, prefix="T_"):
        token: SecretStr

    lines.configure(config=Settings(token="tok-from-config-123"), secrets=[SECRET])
    log.get().info(f"connecting with {SECRET}", nested={"dsn": "postgresql://app:pw-in-url@h/db", "list": [SECRET]})
    logging.getLogger("lib").warning("token %s", "tok-from-config-123")
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        log.get().exception("boom")
    text = "\n".join(json.dumps(e) for e in lines())
    assert SECRET not in text and "tok-from-config-123" not in text and "pw-in-url" not in text
    first = lines()[0]
    assert first["event"] == "connecting with ******" and first["nested"]["dsn"] == "postgresql://app:******@h/db"


def test_stack_traces_are_a_field(lines) -> None:
    lines.configure()
    try:
        1 / 0  # noqa: B018 - the division is what raises
    except ZeroDivisionError:
        log.get().exception("division failed")
    (event,) = lines()
    assert event["level"] == "ERROR" and "ZeroDivisionError: division by zero" in event["exception"]
    assert event["exception"].startswith("Traceback (most recent call last):")


def test_context_variables_reach_every_line_of_their_task_only(lines) -> None:
    lines.configure()

    async def handle(request_id: str) -> None:
        log.bind(request_id=request_id, correlation_id="c-1")
        await asyncio.sleep(0)
        log.get().info("handled")
        logging.getLogger("lib").info("library line")

    async def both() -> None:
        await asyncio.gather(handle("r-1"), handle("r-2"))

    asyncio.run(both())
    with log.context(message_id="m-9"):
        log.get().info("consumed")
    log.get().info("after")
    events = lines()
    assert sorted((e["event"], e.get("request_id")) for e in events[:4]) == [
        ("handled", "r-1"), ("handled", "r-2"), ("library line", "r-1"), ("library line", "r-2")]
    assert all(e["correlation_id"] == "c-1" for e in events[:4])
    assert events[4]["message_id"] == "m-9" and "message_id" not in events[5] and "request_id" not in events[5]


def test_job_and_step_log_start_end_duration_and_failure(lines) -> None:
    lines.configure()
    with log.job("schema-run", schema_id="s1"):
        with log.step("fetch"):
            pass
        with pytest.raises(ValueError), log.step("transform"):
            raise ValueError("bad input")
    events = lines()
    assert [(e["event"], e.get("job"), e.get("step")) for e in events] == [
        ("job started", "schema-run", None), ("step started", "schema-run", "fetch"),
        ("step finished", "schema-run", "fetch"), ("step started", "schema-run", "transform"),
        ("step failed", "schema-run", "transform"), ("job finished", "schema-run", None)]
    assert events[0]["schema_id"] == "s1" and events[-1]["duration_ms"] >= 0
    assert events[4]["level"] == "ERROR" and "ValueError: bad input" in events[4]["exception"]
    assert events[4]["error"] == "ValueError"


def test_job_as_a_decorator_of_a_coroutine(lines) -> None:
    lines.configure()

    @log.job("nightly")
    async def nightly() -> int:
        log.get().info("working")
        return 3

    assert asyncio.run(nightly()) == 3
    assert [(e["event"], e["job"]) for e in lines()] == [("job started", "nightly"), ("working", "nightly"),
                                                          ("job finished", "nightly")]


def test_access_log_middleware_logs_requests_without_bodies(lines) -> None:
    lines.configure()

    async def app(scope, receive, send) -> None:
        log.get().info("inside")
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"secret body"})

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b"password=x"}

    scope = {"type": "http", "method": "POST", "path": "/users", "query_string": b"token=abc",
             "headers": [(b"x-request-id", b"req-42")]}
    asyncio.run(log.access_log(app)(scope, receive, send))
    inside, request = lines()
    assert inside["request_id"] == "req-42"
    assert {k: request[k] for k in ("event", "method", "path", "status", "request_id")} == {
        "event": "request", "method": "POST", "path": "/users", "status": 201, "request_id": "req-42"}
    assert "body" not in json.dumps(request) and "token" not in json.dumps(request)
    assert (b"x-request-id", b"req-42") in sent[0]["headers"]


def test_file_output_rotates_by_size(tmp_path: Path) -> None:
    target = tmp_path / "logs" / "worker.log"
    try:
        log.setup("info", file=target, max_bytes=2000, backups=2)
        for i in range(200):
            log.get().info("line", i=i, padding="x" * 20)
        logging.getLogger("lib").info("stdlib into the same file")
    finally:
        for handler in logging.getLogger().handlers:
            handler.close()
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    files = sorted(p.name for p in target.parent.iterdir())
    assert files == ["worker.log", "worker.log.1", "worker.log.2"]
    assert all(p.stat().st_size <= 2000 for p in target.parent.iterdir())
    current = [json.loads(line) for line in target.read_text().splitlines()]
    assert current[-2]["i"] == 199 and current[-1]["event"] == "stdlib into the same file"
