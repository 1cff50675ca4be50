"""The Bus: one robust aio-pika connection, contract-checked publishing with confirms, consumers (consumer.py).

Publishing: persistent, `message_id` always set (kept across retries: consumers' inboxes deduplicate on it), the
correlation id carried from the log context (`log.context(correlation_id=...)`; a handler's context has its
message's), a fresh `x-stapel-publish-id` per attempt for the transport. Every wait is bounded (aio-pika's publish
on a closed robust connection waits for the reconnect, aio-pika #636): a confirm that does not come within
`confirm_timeout`, a nack or a lost connection is logged and retried with exponential backoff and jitter until
`publish_attempts` or `publish_budget` seconds are spent, then `Unavailable`."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from stapel.kit import _metrics, health, log
from stapel.kit.bus.contract import Channel, Contract, ContractError
from stapel.kit.bus.message import TYPE, VERSION, Message, model_for
from stapel.kit.errors import Unavailable

__all__ = ["Bus", "REPUBLISH"]

REPUBLISH = "stapel.bus.republish"  # the `at` handler the bus registers for its retries
_TRANSIENT = (asyncio.TimeoutError, aiormq.exceptions.AMQPError, ConnectionError, OSError, RuntimeError)


def correlation_id() -> str | None:
    from structlog.contextvars import get_contextvars

    return get_contextvars().get("correlation_id")


class Bus:
    def __init__(self, connection: aio_pika.abc.AbstractRobustConnection, channel: aio_pika.abc.AbstractRobustChannel,
                 contract: Contract, *, at: Any = None, name: str = "bus", confirm_timeout: float = 5.0,
                 publish_attempts: int = 5, publish_budget: float = 15.0, max_attempts: int = 5,
                 retry_base: float = 1.0, retry_max: float = 300.0) -> None:
        self.connection, self.channel, self.contract, self.at, self.name = connection, channel, contract, at, name
        self.confirm_timeout, self.publish_attempts, self.publish_budget = confirm_timeout, publish_attempts, publish_budget
        self.max_attempts, self.retry_base, self.retry_max = max_attempts, retry_base, retry_max
        self.consumers: list[Any] = []
        self.logger = log.get("stapel.kit.bus", bus=name)
        self._published = _metrics.counter("stapel_kit_bus_published_total", "Publishes, by result.",
                                           ("channel", "result"))
        self._publish_timer = _metrics.histogram("stapel_kit_bus_publish_duration_seconds",
                                                 "Time of a confirmed publish, retries included.", ("channel",))
        reconnects = _metrics.counter("stapel_kit_bus_reconnects_total", "Reconnections after a lost connection.",
                                      ("bus",)).labels(name)
        if connection is not None and hasattr(connection, "reconnect_callbacks"):
            connection.reconnect_callbacks.add(lambda *_args: self._reconnected(reconnects))
        if at is not None:
            at.register(REPUBLISH, self._republish)
        health.add(name, self.check)

    @classmethod
    async def connect(cls, rabbitmq_settings: Any, contract: str | Path | Contract, *, at: Any = None,
                      name: str = "bus", timeout: float = 10.0, **options: Any) -> Bus:
        """Connect (a config.RabbitMQ block or an amqp:// URL) and load the contract (a path or a Contract)."""
        if not isinstance(contract, Contract):
            contract = Contract.load(contract)
        url = getattr(rabbitmq_settings, "url", rabbitmq_settings)
        url = url.get_secret_value() if hasattr(url, "get_secret_value") else url
        if not isinstance(url, str) or not url.startswith(("amqp://", "amqps://")):
            raise TypeError(f"bus: expected a config.RabbitMQ block or an amqp:// URL, got {type(rabbitmq_settings).__name__}")
        try:
            connection = await asyncio.wait_for(aio_pika.connect_robust(url, timeout=timeout), timeout)
            channel = await connection.channel(publisher_confirms=True)
        except (*_TRANSIENT, aio_pika.exceptions.AMQPException) as exc:
            raise Unavailable(f"connect {name}", f"{type(exc).__name__}: cannot reach RabbitMQ") from exc
        return cls(connection, channel, contract, at=at, name=name, **options)

    def _reconnected(self, counter: Any) -> None:
        counter.inc()
        self.logger.warning("reconnected to RabbitMQ (channels and consumers restored)")

    # --- publishing -------------------------------------------------------------------------------------------
    async def publish(self, channel: str, message: Message | dict, *, params: dict[str, Any] | None = None,
                      message_id: str | None = None, correlation_id: str | None = None,
                      headers: dict[str, Any] | None = None) -> str:
        """Publish to a channel of the contract; returns the message_id once the broker confirmed it."""
        target = self.contract.channel(channel)
        if isinstance(message, dict):  # validated against the channel's one message model (a ValidationError)
            model = model_for(target.messages)
            if model is None:
                raise TypeError(f"bus: channel {target.id} carries {', '.join(sorted(target.messages)) or 'any type'}: "
                                f"publish a Message model (a dict needs exactly one known model)")
            message = model.model_validate(message)
        if not isinstance(message, Message):
            raise TypeError(f"bus: publish takes a stapel.kit.bus.Message model, got {type(message).__name__}")
        if target.messages and message.TYPE not in target.messages:
            raise ContractError(f"channel {target.id} does not carry {message.TYPE} (contract: "
                                f"{', '.join(sorted(target.messages))})")
        message_id = message_id or uuid.uuid4().hex
        props = {"message_id": message_id, "correlation_id": correlation_id or _context_correlation(),
                 "type": message.TYPE, "headers": {**(headers or {}), TYPE: message.TYPE, VERSION: message.VERSION}}
        await self.send(target.exchange, target.key(params), message.model_dump_json().encode(), props, target.id)
        return message_id

    async def send(self, exchange: str, routing_key: str, body: bytes, props: dict[str, Any], what: str) -> None:
        """A confirmed, persistent publish of raw bytes, retried; Unavailable after the budget."""
        started, attempt = time.monotonic(), 0
        headers = dict(props.get("headers") or {})
        while True:
            attempt += 1
            headers["x-stapel-publish-id"] = uuid.uuid4().hex
            properties = Basic.Properties(content_type="application/json", delivery_mode=2, headers=headers,
                                          message_id=props["message_id"], correlation_id=props.get("correlation_id"),
                                          message_type=props.get("type"))
            try:
                async with asyncio.timeout(self.confirm_timeout):
                    await self._publish_once(exchange, routing_key, body, properties)
            except _TRANSIENT as exc:
                spent = time.monotonic() - started
                pause = min(2.0, 0.1 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
                if attempt >= self.publish_attempts or spent + pause > self.publish_budget:
                    self._published.labels(what, "failed").inc()
                    self.logger.error("publish failed", channel=what, message_id=props["message_id"], attempts=attempt,
                                      error=type(exc).__name__)
                    raise Unavailable(f"publish {what}", f"no confirm after {attempt} attempts "
                                                         f"({type(exc).__name__})") from exc
                self._published.labels(what, "retried").inc()
                self.logger.warning("publish retried", channel=what, message_id=props["message_id"], attempt=attempt,
                                    error=type(exc).__name__, retry_in_s=round(pause, 3))
                await asyncio.sleep(pause)
                continue
            self._published.labels(what, "ok").inc()
            self._publish_timer.timer(what).observe(time.monotonic() - started)
            return

    async def _publish_once(self, exchange: str, routing_key: str, body: bytes, properties: Any) -> None:
        if self.channel.is_closed:  # a robust channel being restored: wait for it (bounded by the caller)
            await self.channel.ready()
        underlay = await self.channel.get_underlay_channel()
        confirm = await underlay.basic_publish(body, exchange=exchange, routing_key=routing_key, properties=properties)
        if isinstance(confirm, DeliveredMessage) or not isinstance(confirm, Basic.Ack):
            # a Nack or Reject frame, a returned message, or None (no confirm): aiormq's annotation takes frames only,
            # the value is only shown in the error's text
            raise aiormq.exceptions.DeliveryError(None, confirm)  # type: ignore[arg-type]

    async def _republish(self, payload: dict) -> None:
        """The `at` handler of the bus's retries: put the message back on its queue (the default exchange)."""
        props = {"message_id": payload["message_id"], "correlation_id": payload.get("correlation_id"),
                 "type": payload.get("type"), "headers": payload.get("headers") or {}}
        await self.send("", payload["queue"], payload["body"].encode(), props, f"retry:{payload['queue']}")

    # --- consuming --------------------------------------------------------------------------------------------
    def consumer(self, channel: str, **options: Any) -> Any:
        """Decorator form of consume(): registered now, started by `await bus.start()`."""

        def register(handler: Any) -> Any:
            from stapel.kit.bus.consumer import Consumer

            self.consumers.append(Consumer(self, self.contract.channel(channel), handler, **options))
            return handler

        return register

    async def consume(self, channel: str, handler: Any, **options: Any) -> Any:
        """Start consuming the channel's queue with `handler(message, delivery)`; returns the Consumer."""
        from stapel.kit.bus.consumer import Consumer

        consumer = Consumer(self, self.contract.channel(channel), handler, **options)
        self.consumers.append(consumer)
        await consumer.start()
        return consumer

    async def start(self) -> None:
        for consumer in self.consumers:
            if not consumer.started:
                await consumer.start()

    def channel_of(self, name: str) -> Channel:
        return self.contract.channel(name)

    async def check(self) -> bool:
        if self.connection.is_closed:
            raise Unavailable(self.name, "connection to RabbitMQ closed (reconnecting)")
        return True

    async def close(self) -> None:
        health.default.remove(self.name, self.check)
        for consumer in self.consumers:
            await consumer.stop()
        await self.connection.close()

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.close()


def _context_correlation() -> str | None:
    return correlation_id()
