"""The definitions file `render compose` / `render k8s` give a RabbitMQ container (render/rabbitmq_definitions.py),
loaded by a real RabbitMQ started by stapel: a broker of a stack that declares nothing gets the rendered JSON of a
stack that declares a topology (seed 000's CRM plus a user of its own) through POST /api/definitions, as the
component's own admin user; then the declared vhosts, exchanges, queues with their dead-letter arguments, DLQs and
bindings exist, `stapel provision`'s own planner finds nothing to change, the declared user logs in over AMQP with
its password (so the password hash is right) and a rejected message reaches the DLQ."""

from __future__ import annotations

import json
import socket

import pika
import pika.exceptions
import pytest
from conftest import stapel, stop_and_clean, traversable_dir, wait_until

from stapel.engine.stack import open_stack
from stapel.provision import rabbitmq
from stapel.provision.rabbitmq_api import ManagementApi
from stapel.render import rabbitmq_definitions

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "crm-admin-pw-51c0de"
WORKER_PASSWORD = "crm-worker-pw-9a7f21"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bare(port: int, management: int) -> str:
    """The broker that runs: the same component, nothing declared (stapel provision has nothing to do)."""
    return f"""
name: crmdefs
components:
  mq:
    kind: rabbitmq
    port: {port}
    management_port: {management}
    user: crm
    password: {ADMIN_PASSWORD}
    vhost: crm
"""


def declared_stack(port: int, management: int) -> str:
    """seed 000's notification and audit queues (examples/seed-000-crm now declares its topology from an AsyncAPI
    file) declared in stapel.yaml, plus a worker user, on the same ports."""
    return f"""name: crmdefs
components:
  mq:
    kind: rabbitmq
    user: crm
    password: {ADMIN_PASSWORD}
    port: {port}
    management_port: {management}
    vhost: crm
    users:
      worker: {{password: {WORKER_PASSWORD}, permissions: [crm]}}
    vhosts:
      crm:
        exchanges:
          crm.events: {{type: topic}}
          tasks.events: {{type: topic}}
          notifications.events: {{type: topic}}
          audit.events: {{type: topic}}
          backup.notifications: {{type: fanout}}
        queues:
          notifications.send: {{dead_letter: true}}
          audit.store: {{dead_letter: true}}
        bindings:
          - {{exchange: notifications.events, queue: notifications.send, routing_key: "notification.*"}}
          - {{exchange: audit.events, queue: audit.store, routing_key: "#"}}
"""


@pytest.fixture(scope="module")
def broker():
    root = traversable_dir("render-mq-defs")
    port, management = free_port(), free_port()
    (root / "run").mkdir()
    (root / "run" / "stapel.yaml").write_text(bare(port, management))
    (root / "declared").mkdir()
    (root / "declared" / "stapel.yaml").write_text(declared_stack(port, management))
    try:
        up = stapel(root / "run", "up", "--skip-backend", timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        stack = open_stack(root / "declared" / "stapel.yaml", "dev", env={})
        yield stack, port, ManagementApi(management, "crm", ADMIN_PASSWORD)
    finally:
        stapel(root / "run", "down", "--volumes", "--yes", timeout=120)
        assert not stop_and_clean(root / "run", root)


def test_the_broker_loads_the_rendered_definitions(broker) -> None:
    stack, port, api = broker
    node = stack.nodes["mq"]
    rendered = json.loads(rabbitmq_definitions.text(stack, node))
    api.post("/api/definitions", rendered)
    loaded = api.get("/api/definitions")
    assert {q["name"] for q in loaded["queues"] if q["vhost"] == "crm"} == {
        "notifications.send", "notifications.send.dlq", "audit.store", "audit.store.dlq"}
    queue = next(q for q in loaded["queues"] if q["name"] == "notifications.send")
    assert queue["arguments"]["x-dead-letter-exchange"] == "notifications.send.dlx" and queue["durable"] is True
    exchanges = {e["name"]: e["type"] for e in loaded["exchanges"] if e["vhost"] == "crm"}
    assert exchanges["backup.notifications"] == "fanout" and exchanges["audit.store.dlx"] == "direct"
    assert {"source": "audit.store.dlx", "destination": "audit.store.dlq", "routing_key": "audit.store"}.items() <= next(
        b for b in loaded["bindings"] if b["source"] == "audit.store.dlx").items()
    plan = rabbitmq.plan(rabbitmq.declared(stack, node), loaded, own=("crm", "crm"))
    assert (plan.changes, plan.conflicts) == ([], []), [c.drift for c in plan.changes] + plan.conflicts
    assert api.get("/api/whoami")["name"] == "crm"  # the admin's hash from the file still lets it in


def test_the_declared_user_logs_in_and_a_rejected_message_lands_in_the_dlq(broker) -> None:
    stack, port, api = broker
    api.post("/api/definitions", rabbitmq_definitions.definitions(stack, stack.nodes["mq"]))  # idempotent: a second load
    params = pika.ConnectionParameters("127.0.0.1", port, "crm", pika.PlainCredentials("worker", WORKER_PASSWORD),
                                       connection_attempts=1, socket_timeout=5)
    with pika.BlockingConnection(params) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.basic_publish("notifications.events", "notification.email", b"mail-1", pika.BasicProperties(delivery_mode=2),
                              mandatory=True)
        method, _, body = wait_until(lambda: (lambda got: got if got[0] else None)(channel.basic_get("notifications.send")), 5)
        assert body == b"mail-1"
        channel.basic_nack(method.delivery_tag, requeue=False)
        method, props, body = wait_until(lambda: (lambda got: got if got[0] else None)(channel.basic_get("notifications.send.dlq")), 5)
        channel.basic_ack(method.delivery_tag)
    assert body == b"mail-1" and props.headers["x-death"][0]["reason"] == "rejected"
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, "crm", pika.PlainCredentials("worker", "wrong-password"),
                                                          connection_attempts=1, socket_timeout=5))
