"""stapel.kit.bus without a broker: the contract read from AsyncAPI 2.x and 3.x, and every bad call refused before
anything is sent (a channel not in the contract, a message type the channel does not carry, missing routing-key
parameters, a consumer without a model, a queue or a DLQ)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from stapel.kit import health
from stapel.kit.bus import Bus, Contract, ContractError, Delivery, Message, UnknownChannel
from stapel.kit.bus.consumer import Consumer

V3 = """
asyncapi: 3.0.0
channels:
  orderPlaced:
    address: order.placed
    messages: {OrderPlaced: {$ref: '#/components/messages/OrderPlaced'}}
    bindings: {amqp: {is: routingKey, exchange: {name: orders.events, type: topic}, queue: {$ref: '#/components/q'}}}
  userNote:
    address: notes.user.{userId}
    bindings: {amqp: {is: routingKey, exchange: {name: notes, type: topic}}}
  tasks:
    address: tasks
    bindings: {amqp: {is: queue, queue: {durable: true, x-dead-letter: {exchange: dead, queue: tasks.dead}}}}
  plain:
    address: plain
components:
  q: {name: orders.work, x-dead-letter: true}
  messages:
    OrderPlaced: {name: OrderPlaced}
"""

V2 = """
asyncapi: 2.6.0
channels:
  user.signed_up:
    publish:
      message: {oneOf: [{name: SignedUp}, {name: SignedUpV2}]}
    bindings: {amqp: {is: routingKey, exchange: {name: users, type: fanout}}}
"""


class OrderPlaced(Message):
    order_id: int


class Refund(Message, type="Refund", version=3):
    amount: int


def bus() -> Bus:
    made = Bus(None, None, Contract.parse(yaml.safe_load(V3), "api/asyncapi.yaml"))  # type: ignore[arg-type]
    health.default.remove("bus")
    return made


def test_the_contract_of_an_asyncapi_3_document() -> None:
    contract = Contract.parse(yaml.safe_load(V3), "api/asyncapi.yaml")
    order = contract.channel("orderPlaced")
    assert contract.channel("order.placed") is order
    assert (order.exchange, order.key(None), order.queue) == ("orders.events", "order.placed", "orders.work")
    assert order.dead_letter == ("orders.work.dlx", "orders.work.dlq") and order.messages == {"OrderPlaced"}
    tasks = contract.channel("tasks")
    assert (tasks.exchange, tasks.key(None), tasks.dead_letter) == ("", "tasks", ("dead", "tasks.dead"))
    assert contract.channel("userNote").key({"userId": 7}) == "notes.user.7"
    assert "plain" not in contract.channels  # no AMQP binding: not a bus channel
    two = Contract.parse(yaml.safe_load(V2), "v2.yaml").channel("user.signed_up")
    assert (two.exchange, two.key(None), two.messages) == ("users", "user.signed_up", {"SignedUp", "SignedUpV2"})


def test_a_bad_contract_file_is_one_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="missing.yaml: cannot read"):
        Contract.load(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("asyncapi: 3.0.0\nchannels: {a: [\n")
    with pytest.raises(ContractError, match="bad.yaml: malformed YAML"):
        Contract.load(tmp_path / "bad.yaml")
    with pytest.raises(ContractError, match="expected an AsyncAPI 2.x or 3.x document"):
        Contract.parse({"openapi": "3.1.0"}, "x.yaml")
    with pytest.raises(ContractError, match="points nowhere"):
        Contract.parse({"asyncapi": "3.0.0", "channels": {"a": {"$ref": "#/components/channels/a"}}}, "x.yaml")
    with pytest.raises(ContractError, match="only local"):
        Contract.parse({"asyncapi": "3.0.0", "channels": {"a": {"$ref": "other.yaml#/a"}}}, "x.yaml")


def test_publishing_outside_the_contract_is_refused_before_anything_is_sent() -> None:
    b = bus()
    with pytest.raises(UnknownChannel, match="channel 'orderShipped' is not in the contract api/asyncapi.yaml"):
        asyncio.run(b.publish("orderShipped", OrderPlaced(order_id=1)))
    assert issubclass(UnknownChannel, LookupError) and issubclass(UnknownChannel, ValueError)
    with pytest.raises(ContractError, match="channel orderPlaced does not carry Refund"):
        asyncio.run(b.publish("orderPlaced", Refund(amount=1)))
    with pytest.raises(TypeError, match="takes a stapel.kit.bus.Message"):
        asyncio.run(b.publish("orderPlaced", [1]))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="order_id"):  # a dict is validated against the channel's model
        asyncio.run(b.publish("orderPlaced", {"order_id": "seven"}))
    with pytest.raises(TypeError, match="a dict needs exactly one known model"):
        asyncio.run(b.publish("tasks", {"x": 1}))
    with pytest.raises(ContractError, match="needs params userId"):
        asyncio.run(b.publish("userNote", OrderPlaced(order_id=1)))


def test_messages_are_versioned_models() -> None:
    assert (OrderPlaced.TYPE, OrderPlaced.VERSION, Refund.TYPE, Refund.VERSION) == ("OrderPlaced", 1, "Refund", 3)
    with pytest.raises(ValueError, match="version is a positive integer"):
        class Bad(Message, version=0):
            x: int
    with pytest.raises(Exception, match="order_id"):
        OrderPlaced(order_id="seven")


def test_bad_consumers_are_refused() -> None:
    b = bus()

    async def handle(order: OrderPlaced, delivery: Delivery) -> None: ...

    async def untyped(order, delivery) -> None: ...

    with pytest.raises(UnknownChannel):
        b.consumer("nowhere")(handle)
    with pytest.raises(ContractError, match="channel userNote has no queue"):
        Consumer(b, b.channel_of("userNote"), handle)
    plain = Contract.parse({"asyncapi": "3.0.0", "channels": {"q": {"bindings": {"amqp": {"is": "queue", "queue": {
        "name": "q"}}}}}})
    with pytest.raises(ContractError, match="queue q .channel q. has no dead-letter queue"):
        Consumer(b, plain.channel("q"), handle)
    with pytest.raises(TypeError, match="needs its message model"):
        Consumer(b, b.channel_of("orderPlaced"), untyped)
    with pytest.raises(TypeError, match="needs its message model"):
        Consumer(b, b.channel_of("orderPlaced"), handle, model=dict)
    for bad in (0, -1, "8", True):
        with pytest.raises(ValueError, match="prefetch"):
            Consumer(b, b.channel_of("orderPlaced"), handle, prefetch=bad)
    consumer = Consumer(b, b.channel_of("orderPlaced"), untyped, model=[OrderPlaced, Refund])
    assert set(consumer.models) == {("OrderPlaced", 1), ("Refund", 3)} and consumer.with_delivery


def test_connect_needs_an_amqp_url() -> None:
    with pytest.raises(TypeError, match="expected a config.RabbitMQ block or an amqp:// URL"):
        asyncio.run(Bus.connect("redis://localhost", Contract({})))
