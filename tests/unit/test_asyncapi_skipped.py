"""AsyncAPI channels (or parts of them) stapel leaves to the clients are named with the reason, never skipped
silently: a parameterised queue or exchange name, an exclusive or server-named reply queue, RabbitMQ's own amq.*
queues, a channel without an AMQP binding; `stapel provision` (and --check, and up's provision step log) says them."""

from __future__ import annotations

import textwrap
from pathlib import Path

from stapel.engine.stack import open_stack
from stapel.provision import asyncapi, rabbitmq

DOC = """\
asyncapi: 3.0.0
info: {title: rpc, version: 1.0.0}
channels:
  tasks:
    address: tasks.run
    bindings:
      amqp:
        is: routingKey
        exchange: {name: tasks, type: direct}
        queue: {name: tasks.run}
  perTenant:
    address: "{queue}"
    bindings:
      amqp: {is: queue, queue: {durable: true}}
  replies:
    address: rpc.replies
    bindings:
      amqp: {is: queue, queue: {name: "", exclusive: true, autoDelete: true}}
  anonymous:
    address: tasks.done
    bindings:
      amqp: {is: routingKey, exchange: {name: tasks}, queue: {exclusive: true}}
  directReply:
    address: amq.rabbitmq.reply-to
    bindings:
      amqp: {is: queue, queue: {name: amq.rabbitmq.reply-to}}
  tenantEvents:
    address: events
    bindings:
      amqp: {exchange: {name: "tenant.{tenantId}", type: topic}}
  websocket:
    address: /ws
    bindings: {ws: {method: GET}}
"""
SKIPPED = [
    "rpc.yaml: channel perTenant ({queue}): queue '{queue}' is parameterised: its name is known only at run time, the client declares it",
    "rpc.yaml: channel replies (rpc.replies): queue rpc.replies is exclusive: it belongs to the consumer's connection, "
    "which declares it (a reply queue)",
    "rpc.yaml: channel anonymous (tasks.done): a server-named queue is exclusive: it belongs to the consumer's connection, "
    "which declares it (a reply queue)",
    "rpc.yaml: channel directReply (amq.rabbitmq.reply-to): queue amq.rabbitmq.reply-to is RabbitMQ's own (amq.*: direct "
    "reply-to or server-named), the client uses it as it is",
    "rpc.yaml: channel tenantEvents (events): exchange 'tenant.{tenantId}' is parameterised: its name is known only at run "
    "time, the client declares it",
    "rpc.yaml: channel websocket (/ws): no AMQP binding (bindings.amqp), nothing to declare",
]


def test_each_skipped_channel_is_named_with_why(tmp_path: Path) -> None:
    (tmp_path / "rpc.yaml").write_text(DOC)
    doc = asyncapi.load(tmp_path / "rpc.yaml", "rpc.yaml")
    assert doc.skipped == SKIPPED
    root = doc.topology()["/"]
    assert set(root.queues) == {"tasks.run"} and set(root.exchanges) == {"tasks"}


def test_is_queue_without_a_queue_object_is_said_too(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text("asyncapi: 2.6.0\nchannels:\n  jobs:\n    bindings:\n      amqp: {is: queue}\n")
    assert asyncapi.load(tmp_path / "d.yaml", "d.yaml").skipped == [
        "d.yaml: channel jobs: is: queue without a queue object (bindings.amqp.queue), no queue declared"]


class FakeApi:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str, where: str, body=None):
        if method == "GET":
            return {"vhosts": [{"name": "/"}]}
        self.sent.append((method, where))
        return None


def test_provision_and_check_say_what_was_skipped_first(tmp_path: Path) -> None:
    (tmp_path / "rpc.yaml").write_text(DOC)
    (tmp_path / "stapel.yaml").write_text(textwrap.dedent("""\
        components:
          mq: {kind: rabbitmq, user: admin, password: admin-pw-1, asyncapi: [rpc.yaml]}
        """))
    stack = open_stack(tmp_path / "stapel.yaml", env={})
    top = rabbitmq.declared(stack, stack.nodes["mq"])
    said: list[str] = []
    drift = rabbitmq.run("mq", top, FakeApi(), True, said.append, own=("admin", "/"))
    assert said[:len(SKIPPED)] == [f"mq: skipped {note}" for note in SKIPPED]
    assert not any("skipped" in line for line in drift)  # information, not drift
    said.clear()
    done = rabbitmq.run("mq", top, FakeApi(), False, said.append, own=("admin", "/"))
    assert said[:len(SKIPPED)] == [f"mq: skipped {note}" for note in SKIPPED]
    assert done == said[len(SKIPPED):] and "mq: vhost /: created queue tasks.run" in done
