"""stapel.kit.bus: RabbitMQ by the service's AsyncAPI contract (seed 004), on aio-pika.

    bus = await Bus.connect(config.rabbitmq, "api/server/asyncapi.yaml", at=at)   # at: retries (stapel.kit.at)

    class OrderPlaced(Message, version=1):
        order_id: int

    await bus.publish("orderPlaced", OrderPlaced(order_id=7))       # confirmed; a channel not in the contract: error

    @bus.consumer("orderPlaced", prefetch=32, inbox=PostgresInbox(db))
    async def handle(order: OrderPlaced, delivery: Delivery) -> None:
        await delivery.tx.exec(queries.orders__mark, order.order_id)  # in the inbox's transaction
    await bus.start()

See bus.py (publishing), consumer.py (acks, retries through `at`, the DLQ), inbox.py (idempotency).
Metrics: stapel_kit_bus_published_total{channel,result}, stapel_kit_bus_publish_duration_seconds{channel},
stapel_kit_bus_consumed_total{queue,handler,result=ok|duplicate|retried|dead_lettered|requeued|failed},
stapel_kit_bus_handler_duration_seconds{queue,handler}, stapel_kit_bus_reconnects_total{bus}."""

from __future__ import annotations

from stapel.kit.bus.bus import REPUBLISH, Bus
from stapel.kit.bus.consumer import ATTEMPT, Consumer, Delivery
from stapel.kit.bus.contract import Channel, Contract, ContractError, UnknownChannel
from stapel.kit.bus.inbox import PostgresInbox, RedisInbox
from stapel.kit.bus.message import Message
from stapel.kit.errors import Permanent, Temporary, Unavailable

__all__ = ["ATTEMPT", "REPUBLISH", "Bus", "Channel", "Consumer", "Contract", "ContractError", "Delivery", "Message",
           "Permanent", "PostgresInbox", "RedisInbox", "Temporary", "Unavailable", "UnknownChannel"]
