"""JSON logs, one object per line (seed 002 section 7): structlog, with the standard library bridged.

    log.setup(config=config)            # LOG_LEVEL (DEBUG, INFO, WARN, ERROR); every secret of the config redacted
    logger = log.get("users")
    logger.info("user created", user_id=7)
    {"event": "user created", "user_id": 7, "level": "INFO", "logger": "users", "timestamp": "2026-...Z", "request_id": "..."}

Every line has `timestamp` (UTC, ISO-8601), `level`, `event`; an exception is the field `exception` (its stack
trace); the context variables bound with `bind()` / `context()` (request_id, message_id, correlation_id, ...)
are in every line logged in that task. Standard-library records (psycopg, uvicorn, ...) come out in the same
format. Writing to a file (`file=`) rotates by size; stdout is the default (the platform rotates it: structlog #562).
"""

from __future__ import annotations

import functools
import inspect
import logging
import logging.handlers
import os
import re
import sys
import time
import uuid
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars, unbind_contextvars

from stapel.kit._mask import MASK, mask_url

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor

__all__ = ["access_log", "add_secrets", "bind", "clear", "configure", "context", "get", "job", "new_id", "setup", "step",
           "unbind"]

LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING, "WARNING": logging.WARNING,
          "ERROR": logging.ERROR}
_NAMES = {"debug": "DEBUG", "info": "INFO", "warning": "WARN", "warn": "WARN", "error": "ERROR", "critical": "ERROR",
          "exception": "ERROR", "fatal": "ERROR", "msg": "INFO"}

bind = bind_contextvars
unbind = unbind_contextvars
clear = clear_contextvars


def context(**values: Any) -> AbstractContextManager:
    """`with log.context(message_id=...):` every line inside carries these fields; restored afterwards."""
    return bound_contextvars(**values)


def new_id() -> str:
    return uuid.uuid4().hex


class Redactor:
    """Replaces every known secret inside every string field (and the password of every URL) with ******."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.pattern: re.Pattern | None = None
        self.known: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self.known |= {s for s in secrets if s and len(s) >= 3}  # shorter ones would mask ordinary words
        ordered = sorted(self.known, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def text(self, value: str) -> str:
        if self.pattern is not None:
            value = self.pattern.sub(MASK, value)
        return mask_url(value) if "://" in value else value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value

    def __call__(self, _logger: Any, _method: str, event: EventDict) -> EventDict:
        for key, value in event.items():
            if isinstance(value, str):
                if self.pattern is not None or "://" in value:
                    event[key] = self.text(value)
            elif isinstance(value, (dict, list, tuple)):
                event[key] = self.value(value)
        return event


def _level(_logger: Any, method: str, event: EventDict) -> EventDict:
    event["level"] = _NAMES.get(method, method.upper())
    return event


def _stdlib_level(_logger: Any, _method: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    if record is not None:
        event["level"] = _NAMES.get(record.levelname.lower(), record.levelname)
        event["logger"] = record.name
    return event


class _LineFormatter(structlog.stdlib.ProcessorFormatter):
    """Formats standard-library records as JSON; lines the kit rendered itself pass through as they are."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "stapel_line", False):
            return record.msg
        return super().format(record)


class _HandlerLogger:
    """structlog's final logger for file output: hands the rendered line to a (rotating) handler."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler

    def msg(self, message: str) -> None:
        record = logging.LogRecord("stapel.kit", logging.INFO, "", 0, message, None, None)
        record.stapel_line = True
        self.handler.handle(record)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


_redactor = Redactor()


def level_from_env(value: str | None) -> int:
    name = (value or "INFO").strip().upper()
    if name not in LEVELS:
        print(f"log: LOG_LEVEL: expected one of DEBUG, INFO, WARN, ERROR, got {name[:20]!r}", file=sys.stderr)
        raise SystemExit(1)
    return LEVELS[name]


def setup(level: str | None = None, *, config: Any = None, secrets: Iterable[str] = (), file: str | Path | None = None,
          max_bytes: int = 10 * 1024 * 1024, backups: int = 5, stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library's root logger: JSON lines on `stream` (stdout), or on `file`
    rotated at `max_bytes` keeping `backups` old files. `level` defaults to $LOG_LEVEL, else INFO. `config` (a
    stapel.kit.config.Config) and `secrets` are redacted from every line."""
    number = level_from_env(level if level is not None else os.environ.get("LOG_LEVEL"))
    global _redactor
    _redactor = Redactor([*secrets, *(config.secret_values() if config is not None else [])])
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    shared: list[Processor] = [structlog.contextvars.merge_contextvars, stamp]
    render = structlog.processors.JSONRenderer()
    if file is not None:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(file, maxBytes=max_bytes, backupCount=backups,
                                                                        encoding="utf-8")
        factory: Any = lambda *_args: _HandlerLogger(handler)  # noqa: E731
    else:
        out = stream if stream is not None else sys.stdout
        handler = logging.StreamHandler(out)
        factory = structlog.WriteLoggerFactory(file=out)
    handler.setFormatter(_LineFormatter(foreign_pre_chain=[*shared, _stdlib_level, structlog.stdlib.ExtraAdder()],
                                        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                                                    structlog.processors.format_exc_info, _redactor, render]))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number)
    structlog.configure(
        processors=[*shared, _level, structlog.processors.format_exc_info, _redactor, render],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )


configure = setup


def add_secrets(values: Iterable[str]) -> None:
    """Secrets learnt after setup (a token fetched at run time) are redacted from then on."""
    _redactor.add(values)


def get(name: str | None = None, **fields: Any) -> Any:
    """A logger; `name` lands in the field `logger`."""
    logger = structlog.get_logger()
    return logger.bind(logger=name, **fields) if name else (logger.bind(**fields) if fields else logger)


class job:  # noqa: N801 - used like a function: `with log.job("import"):` or `@log.job("import")`
    """Logs the start, end, duration and failure (with its stack trace) of a job; a context manager (sync or
    async) or a decorator. Inside, every line carries `job=<name>`; `step` does the same for one step."""

    field = "job"

    def __init__(self, name: str, logger: Any = None, **fields: Any) -> None:
        self.name, self.fields = name, fields
        self.logger = logger
        self._started = 0.0
        self._bound: AbstractContextManager | None = None

    def _begin(self) -> None:
        self._bound = bound_contextvars(**{self.field: self.name})
        self._bound.__enter__()
        self.logger = self.logger or get()
        self.logger.info(f"{self.field} started", **self.fields)
        self._started = time.perf_counter()

    def _end(self, exc: BaseException | None) -> None:
        duration_ms = round((time.perf_counter() - self._started) * 1000, 3)
        try:
            if exc is None:
                self.logger.info(f"{self.field} finished", duration_ms=duration_ms, **self.fields)
            else:
                self.logger.error(f"{self.field} failed", duration_ms=duration_ms, error=type(exc).__name__,
                                  exc_info=exc, **self.fields)
        finally:
            assert self._bound is not None
            self._bound.__exit__(None, None, None)

    def __enter__(self) -> job:
        self._begin()
        return self

    def __exit__(self, _type: Any, exc: BaseException | None, _tb: Any) -> None:
        self._end(exc)

    async def __aenter__(self) -> job:
        return self.__enter__()

    async def __aexit__(self, _type: Any, exc: BaseException | None, _tb: Any) -> None:
        self._end(exc)

    def __call__(self, func: Any) -> Any:
        make = type(self)
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with make(self.name, self.logger, **self.fields):
                    return await func(*args, **kwargs)
            return run_async

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with make(self.name, self.logger, **self.fields):
                return func(*args, **kwargs)
        return run


class step(job):  # noqa: N801
    """One step of a job: `step started` / `step finished` / `step failed` with `step=<name>` and the job's fields."""

    field = "step"


def access_log(app: Any, logger: Any = None, header: str = "x-request-id") -> Any:
    """ASGI middleware: one line per HTTP request (method, path, status, duration_ms; never bodies, headers or the
    query string), the request id from `header` or a new one, bound for every line logged while handling it and
    echoed in the response."""
    raw_header = header.lower().encode()

    async def middleware(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", []) if k == raw_header), b"")
        request_id = given.decode("latin-1")[:128] or new_id()
        status = {"code": 500}

        async def send_logged(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (raw_header, request_id.encode("latin-1"))]}
            await send(message)

        started = time.perf_counter()
        with bound_contextvars(request_id=request_id):
            out = logger or get("http")
            try:
                await app(scope, receive, send_logged)
            except Exception:
                out.exception("request failed", method=scope["method"], path=scope["path"],
                              duration_ms=round((time.perf_counter() - started) * 1000, 3))
                raise
            out.info("request", method=scope["method"], path=scope["path"], status=status["code"],
                     duration_ms=round((time.perf_counter() - started) * 1000, 3))

    return middleware
