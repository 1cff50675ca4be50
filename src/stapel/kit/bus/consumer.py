"""One consumer: a queue of the contract, a handler, a prefetch, an optional inbox.

A message is acknowledged only after its handler returned (and the inbox's transaction committed). Failures:
- a body that does not validate against the message's model (type and version from the headers), or of an
  unknown type: straight to the queue's DLQ;
- `Permanent` (and any exception not known as temporary): to the DLQ;
- `Temporary`/`Unavailable`, ConnectionError, TimeoutError, OSError: acknowledged and published again to the
  queue later through `at` (exponential backoff with jitter), the attempt counted in `x-stapel-attempt`
  (RabbitMQ 3.13+ ignores `x-death` on republished messages); without `at`, nacked back to the queue; after
  `max_attempts`, to the DLQ.
Dead letters are published (confirmed) to the queue's dead-letter exchange with `x-stapel-reason`,
`x-stapel-error` (the error class), `x-stapel-attempt`, `x-stapel-dead-lettered-at` (UTC ISO-8601) and
`x-stapel-queue`; if that publish fails, the message is nacked back (never lost).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import random
import time
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
from pydantic import ValidationError

from stapel.kit import _metrics, log
from stapel.kit.bus.contract import Channel, ContractError
from stapel.kit.bus.message import TYPE, VERSION, Message, describe
from stapel.kit.errors import Permanent, Unavailable

__all__ = ["ATTEMPT", "Consumer", "Delivery"]

ATTEMPT = "x-stapel-attempt"
TEMPORARY = (Unavailable, ConnectionError, TimeoutError, asyncio.TimeoutError, OSError)


@dataclass
class Delivery:
    """What a handler may want besides the message: ids, headers, the attempt, the inbox's transaction."""

    message_id: str
    correlation_id: str | None
    headers: dict[str, Any]
    attempt: int
    redelivered: bool
    queue: str
    tx: Any = None
    raw: Any = field(default=None, repr=False)


class _Invalid(Exception):
    pass


class Consumer:
    def __init__(self, bus: Any, channel: Channel, handler: Any, *, model: Any = None, prefetch: int = 32,
                 inbox: Any = None, name: str | None = None, max_attempts: int | None = None) -> None:
        if channel.queue is None:
            raise ContractError(f"channel {channel.id} has no queue in the contract (bindings.amqp.queue): "
                                f"nothing to consume")
        if channel.dead_letter is None:
            raise ContractError(f"queue {channel.queue} (channel {channel.id}) has no dead-letter queue in the "
                                f"contract: add x-dead-letter: true to its bindings.amqp.queue")
        if not callable(handler):
            raise TypeError(f"bus: the handler of {channel.id} must be an async function")
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
            raise ValueError(f"bus: prefetch is a positive integer, got {prefetch!r}")
        self.bus, self.channel, self.handler, self.prefetch, self.inbox = bus, channel, handler, prefetch, inbox
        self.queue: str = channel.queue  # checked above
        self.name: str = name or str(getattr(handler, "__name__", "handler"))
        self.max_attempts = max_attempts or bus.max_attempts
        self.models = self._models(model, handler)
        self.with_delivery = len(inspect.signature(handler).parameters) >= 2
        self.started = False
        self._amqp_channel: Any = None
        self._queue: Any = None
        self._tag: str | None = None
        self._running: set[asyncio.Task] = set()
        self.logger = log.get("stapel.kit.bus", queue=self.queue, handler=self.name)
        consumed = _metrics.counter("stapel_kit_bus_consumed_total", "Messages consumed, by outcome.",
                                    ("queue", "handler", "result"))
        self._count = {r: consumed.labels(self.queue, self.name, r)
                       for r in ("ok", "duplicate", "retried", "dead_lettered", "failed", "requeued")}
        self._timer = _metrics.histogram("stapel_kit_bus_handler_duration_seconds", "Time of a handler.",
                                         ("queue", "handler")).timer(self.queue, self.name)

    @staticmethod
    def _models(model: Any, handler: Any) -> dict[tuple[str, int], type[Message]]:
        if model is None:
            first = next(iter(inspect.signature(handler).parameters), None)
            try:
                model = typing.get_type_hints(handler).get(first) if first else None
            except NameError as exc:  # a string annotation naming a class defined inside a function
                raise TypeError(f"bus: cannot resolve the handler's annotation ({exc}): pass model=...") from None
        models = list(model) if isinstance(model, (list, tuple)) else [model]
        if not models or not all(isinstance(m, type) and issubclass(m, Message) for m in models):
            raise TypeError("bus: a consumer needs its message model(s): model=OrderPlaced (a stapel.kit.bus.Message), "
                            "or annotate the handler's first parameter")
        return {(m.TYPE, m.VERSION): m for m in models}

    async def start(self) -> None:
        connection = self.bus.connection
        self._amqp_channel = await connection.channel(publisher_confirms=False)
        await self._amqp_channel.set_qos(prefetch_count=self.prefetch)
        if self.inbox is not None:
            await self.inbox.setup()
        try:
            self._queue = await self._amqp_channel.declare_queue(self.queue, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            raise ContractError(f"queue {self.queue} does not exist on the broker: `stapel provision` "
                                f"declares the contract's topology") from None
        self._tag = await self._queue.consume(self._on_message)
        self.started = True

    async def stop(self, timeout: float = 10.0) -> None:
        if self._queue is not None and self._tag is not None:
            try:
                await asyncio.wait_for(self._queue.cancel(self._tag), 5)
            except Exception:  # the channel may be gone already
                pass
        if self._running:
            await asyncio.wait(list(self._running), timeout=timeout)
        if self._amqp_channel is not None and not self._amqp_channel.is_closed:
            try:
                await asyncio.wait_for(self._amqp_channel.close(), 5)
            except Exception:
                pass
        self.started = False

    # --- one message ------------------------------------------------------------------------------------------
    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            headers = dict(message.headers or {})
            message_id = message.message_id or hashlib.sha256(message.body).hexdigest()[:32]
            delivery = Delivery(message_id, message.correlation_id, headers, _attempt(headers),
                                bool(message.redelivered), self.queue, raw=message)
            fields = {"message_id": message_id}
            if message.correlation_id:
                fields["correlation_id"] = message.correlation_id
            with log.context(**fields):
                await self._handle(message, delivery)
        finally:
            if task is not None:
                self._running.discard(task)

    async def _handle(self, message: Any, delivery: Delivery) -> None:
        try:
            payload = self._decode(message, delivery.headers)
        except _Invalid as exc:
            await self._dead(message, delivery, str(exc), "ValidationError")
            return
        started = time.perf_counter()
        try:
            if self.inbox is None:
                await self._call(payload, delivery)
            else:
                async with self.inbox.claim(self.name, delivery.message_id) as (fresh, tx):
                    if not fresh:
                        self._count["duplicate"].inc()
                        self.logger.info("duplicate message skipped (inbox)")
                        await _settle(message.ack())
                        return
                    delivery.tx = tx
                    await self._call(payload, delivery)
        except Exception as exc:
            self._timer.observe(time.perf_counter() - started)
            await self._failed(message, delivery, exc)
            return
        self._timer.observe(time.perf_counter() - started)
        self._count["ok"].inc()
        await _settle(message.ack())

    def _decode(self, message: Any, headers: dict[str, Any]) -> Message:
        kind, version = headers.get(TYPE), headers.get(VERSION)
        if kind is None and len(self.models) == 1:
            model = next(iter(self.models.values()))
        else:
            found = self.models.get((str(kind), _int(version)))
            if found is None:
                known = ", ".join(f"{t} v{v}" for t, v in self.models)
                raise _Invalid(f"unknown message type {kind} v{version} (this consumer takes {known})")
            model = found
        try:
            return model.model_validate_json(message.body)
        except ValidationError as exc:
            raise _Invalid(f"{model.TYPE} v{model.VERSION} does not validate: {describe(exc)}") from None

    async def _call(self, payload: Message, delivery: Delivery) -> None:
        result = self.handler(payload, delivery) if self.with_delivery else self.handler(payload)
        if inspect.isawaitable(result):
            await result

    async def _failed(self, message: Any, delivery: Delivery, exc: Exception) -> None:
        error = type(exc).__name__
        reason = str(exc).splitlines()[0][:300] if str(exc) else error
        if isinstance(exc, Permanent) or not isinstance(exc, TEMPORARY):
            self.logger.error("handler failed permanently", error=error, attempt=delivery.attempt, exc_info=exc)
            await self._dead(message, delivery, reason, error)
            return
        if delivery.attempt >= self.max_attempts:
            await self._dead(message, delivery, f"gave up after {delivery.attempt} attempts: {reason}", error)
            return
        at = self.bus.at
        if at is None:
            self._count["requeued"].inc()
            self.logger.warning("handler failed, requeued (no `at` for delayed retries)", error=error)
            await asyncio.sleep(min(1.0, self.bus.retry_base))
            await _settle(message.nack(requeue=True))
            return
        delay = min(self.bus.retry_max, self.bus.retry_base * 2 ** (delivery.attempt - 1)) * random.uniform(0.5, 1.5)
        headers = {**delivery.headers, ATTEMPT: delivery.attempt + 1}
        headers.pop("x-stapel-publish-id", None)
        payload = {"queue": self.queue, "body": message.body.decode(), "message_id": delivery.message_id,
                   "correlation_id": delivery.correlation_id, "type": message.type, "headers": headers}
        from stapel.kit.bus.bus import REPUBLISH

        try:
            await at.schedule(delay, REPUBLISH, payload, dedup_key=f"{self.queue}:{delivery.message_id}:"
                                                                   f"{delivery.attempt}")
        except Exception as scheduling:  # the at file failed: keep the message on the broker instead
            self._count["requeued"].inc()
            self.logger.error("retry could not be scheduled, requeued", error=type(scheduling).__name__)
            await _settle(message.nack(requeue=True))
            return
        self._count["retried"].inc()
        self.logger.warning("handler failed, retried later", error=error, attempt=delivery.attempt,
                            retry_in_s=round(delay, 3))
        await _settle(message.ack())

    async def _dead(self, message: Any, delivery: Delivery, reason: str, error: str) -> None:
        exchange, _dlq = self.channel.dead_letter  # type: ignore[misc]
        headers = {**delivery.headers, "x-stapel-reason": reason, "x-stapel-error": error,
                   ATTEMPT: delivery.attempt, "x-stapel-queue": self.queue,
                   "x-stapel-dead-lettered-at": datetime.now(UTC).isoformat(timespec="milliseconds")}
        headers.pop("x-stapel-publish-id", None)
        props = {"message_id": delivery.message_id, "correlation_id": delivery.correlation_id, "type": message.type,
                 "headers": headers}
        try:
            await self.bus.send(exchange, self.queue, message.body, props, f"dlq:{self.queue}")
        except Unavailable:
            self._count["failed"].inc()
            self.logger.error("dead-lettering failed, the message goes back to the queue", reason=reason)
            await _settle(message.nack(requeue=True))
            return
        self._count["dead_lettered"].inc()
        self.logger.error("message dead-lettered", reason=reason, error=error, attempt=delivery.attempt)
        await _settle(message.ack())


def _attempt(headers: dict[str, Any]) -> int:
    return max(1, _int(headers.get(ATTEMPT, 1)))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


async def _settle(action: Any) -> None:
    """ack/nack on a channel that may have closed meanwhile (a broker restart): the broker redelivers then."""
    try:
        await asyncio.wait_for(action, 5)
    except Exception as exc:
        log.get("stapel.kit.bus").warning("ack/nack lost (the broker redelivers)", error=type(exc).__name__)
