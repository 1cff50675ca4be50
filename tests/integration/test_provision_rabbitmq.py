"""`stapel provision` against a real RabbitMQ started by stapel: vhosts, users (explicit, from *_RABBITMQ_URL, from an
AsyncAPI document), DLQs that catch rejected and expired messages, drift, conflicts, password sync, export/import."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pika
import pytest
from conftest import stapel, stop_and_clean, traversable_dir, wait_until

from stapel.provision.rabbitmq_api import ManagementApi, path

pytestmark = pytest.mark.integration

ADMIN = "admin-pw-7c1e9a33f0"
ASYNCAPI = """\
asyncapi: 3.0.0
info: {title: users service, version: 1.4.0}
x-vhost: crm
channels:
  userSignedUp:
    address: user.signed_up
    bindings:
      amqp: {is: routingKey, exchange: {name: users.events, type: topic, durable: true}}
  userNotifications:
    address: notifications.user.{userId}
    bindings:
      amqp:
        is: routingKey
        exchange: {name: users.events}
        queue: {name: notifications.users, durable: true, x-dead-letter: true}
  replies:
    address: "{replyTo}"
    bindings:
      amqp: {is: queue, queue: {exclusive: true}}
operations:
  sendSignedUp: {action: send, channel: {$ref: '#/channels/userSignedUp'}}
"""
SKIPPED = ("mq: skipped api/server/asyncapi.yaml: channel replies ({replyTo}): queue {replyTo} is exclusive: it belongs to "
           "the consumer's connection, which declares it (a reply queue)")


def without_skipped(text: str) -> str:
    """What `stapel provision` says after the skipped channel (asserted on its own in the tests below)."""
    assert text.startswith(SKIPPED + "\n"), text
    return text[len(SKIPPED) + 1:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_yaml(port: int, management: int) -> str:
    return f"""
name: provmq
components:
  mq:
    kind: rabbitmq
    port: {port}
    management_port: {management}
    user: admin
    password: {ADMIN}
    vhosts:
      crm:
        exchanges: {{crm.events: {{type: topic}}}}
        queues:
          crm.tasks: {{message_ttl: 60000, max_length: 10000, dead_letter: true}}
          crm.expiring: {{message_ttl: 300, dead_letter: true}}
        bindings: [{{exchange: crm.events, queue: crm.tasks, routing_key: "task.*"}}]
    users:
      crm: {{password: "${{CRM_MQ_PASSWORD}}", permissions: [crm]}}
    asyncapi: [api/server/asyncapi.yaml]
"""


def dotenv(port: int, crm_password: str) -> str:
    return f"CRM_MQ_PASSWORD={crm_password}\nNOTIFY_RABBITMQ_URL=amqp://notify:notify-pw-5d2a9e@127.0.0.1:{port}/notify\n"


@pytest.fixture(scope="module")
def mq():
    root = traversable_dir("provision-mq")
    port, management = free_port(), free_port()
    (root / "stapel.yaml").write_text(stack_yaml(port, management))
    (root / "api" / "server").mkdir(parents=True)
    (root / "api" / "server" / "asyncapi.yaml").write_text(ASYNCAPI)
    (root / ".env").write_text(dotenv(port, "crm-pw-1111aaaa"))
    try:
        up = stapel(root, "up", "--skip-backend", "--json", timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        (root / "first-up.json").write_text(up.stdout)
        yield root, port, ManagementApi(management, "admin", ADMIN)
    finally:
        stapel(root, "down", "--volumes", "--yes", timeout=120)
        assert not stop_and_clean(root)


def connect(port: int, user: str, password: str, vhost: str = "crm") -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, vhost, pika.PlainCredentials(user, password),
                                                             connection_attempts=1, socket_timeout=5))


def get(channel, queue: str, timeout: float = 5.0):
    return wait_until(lambda: (lambda got: got if got[0] else None)(channel.basic_get(queue, auto_ack=False)), timeout=timeout)


def test_up_declares_everything_and_provision_then_finds_it_unchanged(mq) -> None:
    root, port, _ = mq
    up = (root / "first-up.json").read_text()
    lines = next(s for s in json.loads(up)["steps"] if s["name"] == "provision")["changes"]
    for expected in ("mq: created vhost crm", "mq: created vhost notify", "mq: created user crm", "mq: created user notify",
                     "mq: vhost crm: created exchange users.events (topic)", "mq: vhost crm: created queue crm.tasks.dlq",
                     "mq: vhost crm: bound queue crm.tasks to exchange crm.events ('task.*')",
                     "mq: vhost crm: bound queue notifications.users to exchange users.events ('notifications.user.*')"):
        assert expected in lines
    assert "crm-pw-" not in up and "notify-pw" not in up
    connect(port, "notify", "notify-pw-5d2a9e", vhost="notify").close()  # derived from NOTIFY_RABBITMQ_URL
    done = stapel(root, "provision")
    assert (done.returncode, done.stdout) == (0, SKIPPED + "\nmq: unchanged\n"), done.stdout + done.stderr


def test_a_skipped_channel_is_in_the_provision_step_log_and_in_check(mq) -> None:
    root, _, _ = mq
    summary = json.loads((root / "first-up.json").read_text())
    step = next(s for s in summary["steps"] if s["name"] == "provision")
    assert SKIPPED in (Path(summary["run_dir"]) / step["log"]).read_text()
    assert SKIPPED not in step["changes"]
    check = stapel(root, "provision", "--check")
    assert check.returncode == 0 and check.stdout.splitlines()[0] == SKIPPED, check.stdout + check.stderr


def test_a_rejected_message_lands_in_the_dlq(mq) -> None:
    _, port, _ = mq
    with connect(port, "crm", "crm-pw-1111aaaa") as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.basic_publish("crm.events", "task.created", b"job-1", pika.BasicProperties(delivery_mode=2), mandatory=True)
        method, _, body = get(channel, "crm.tasks")
        assert body == b"job-1"
        channel.basic_nack(method.delivery_tag, requeue=False)
        method, props, body = get(channel, "crm.tasks.dlq")
        channel.basic_ack(method.delivery_tag)
    assert body == b"job-1" and props.headers["x-death"][0]["reason"] == "rejected"


def test_an_expired_message_lands_in_the_dlq(mq) -> None:
    _, port, _ = mq
    with connect(port, "crm", "crm-pw-1111aaaa") as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.basic_publish("", "crm.expiring", b"too-late", pika.BasicProperties(delivery_mode=2), mandatory=True)
        method, props, body = get(channel, "crm.expiring.dlq", timeout=10)
        channel.basic_ack(method.delivery_tag)
        assert channel.basic_get("crm.expiring", auto_ack=True)[0] is None
    assert body == b"too-late" and props.headers["x-death"][0]["reason"] == "expired"


def test_the_asyncapi_routes_work(mq) -> None:
    _, port, _ = mq
    with connect(port, "crm", "crm-pw-1111aaaa") as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.basic_publish("users.events", "notifications.user.42", b"hello", mandatory=True)
        method, _, body = get(channel, "notifications.users")
        channel.basic_ack(method.delivery_tag)
    assert body == b"hello"


def test_a_second_run_is_unchanged_and_sends_nothing(mq, monkeypatch) -> None:
    from stapel.engine.ports import apply_remembered
    from stapel.engine.stack import open_stack
    from stapel.provision import rabbitmq

    root, _, _ = mq
    assert without_skipped(stapel(root, "provision", check=True).stdout) == "mq: unchanged\n"
    stack = open_stack(root / "stapel.yaml")
    apply_remembered(stack)
    apis, said = [], []
    real = rabbitmq.api_for
    monkeypatch.setattr(rabbitmq, "api_for", lambda node: apis.append(real(node)) or apis[-1])
    assert rabbitmq.provision(stack, say=said.append) == []
    assert said == [SKIPPED, "mq: unchanged"] and [api.writes for api in apis] == [0]


def test_check_is_clean_then_reports_a_deleted_queue(mq) -> None:
    root, _, api = mq
    clean = stapel(root, "provision", "--check")
    assert (clean.returncode, without_skipped(clean.stdout)) == (0, "mq: no drift\n")
    api.delete(path("queues", "crm", "crm.tasks.dlq"))
    drift = stapel(root, "provision", "--check")
    assert drift.returncode == 1
    assert without_skipped(drift.stdout).splitlines() == ["mq: vhost crm: queue crm.tasks.dlq is missing",
                                         "mq: vhost crm: binding crm.tasks.dlx -> crm.tasks.dlq ('crm.tasks') is missing"]
    assert "crm.tasks.dlq" not in {q["name"] for q in api.get("/api/queues/crm")}
    stapel(root, "provision", check=True)
    assert stapel(root, "provision", "--check").returncode == 0


def test_a_queue_with_conflicting_arguments_is_explained(mq) -> None:
    root, _, api = mq
    api.delete(path("queues", "crm", "crm.tasks"))
    api.put(path("queues", "crm", "crm.tasks"), {"durable": True, "arguments": {
        "x-message-ttl": 1000, "x-max-length": 10000, "x-dead-letter-exchange": "crm.tasks.dlx", "x-dead-letter-routing-key": "crm.tasks"}})
    done = stapel(root, "provision")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        "stapel: error: mq: vhost crm: queue crm.tasks exists with x-message-ttl=1000, declared 60000: RabbitMQ cannot change "
        "queue arguments in place; delete the queue (its messages are lost) or use a new name")
    assert "Traceback" not in done.stderr
    assert not [b for b in api.get("/api/bindings/crm") if b["destination"] == "crm.tasks" and b["source"] == "crm.events"]
    api.delete(path("queues", "crm", "crm.tasks"))
    fixed = stapel(root, "provision", check=True)
    assert without_skipped(fixed.stdout).splitlines() == ["mq: vhost crm: created queue crm.tasks",
                                         "mq: vhost crm: bound queue crm.tasks to exchange crm.events ('task.*')"]


def test_a_changed_password_is_synced(mq) -> None:
    root, port, _ = mq
    (root / ".env").write_text(dotenv(port, "crm-pw-new-3333cccc"))
    check = stapel(root, "provision", "--check")
    assert (check.returncode, without_skipped(check.stdout)) == (1, "mq: user crm: the password differs\n")
    done = stapel(root, "provision", check=True)
    assert without_skipped(done.stdout) == "mq: synced the password of user crm\n"
    connect(port, "crm", "crm-pw-new-3333cccc").close()
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        connect(port, "crm", "crm-pw-1111aaaa")


def test_export_and_import_round_trip(mq) -> None:
    root, _, api = mq
    exported = stapel(root, "provision", "--export", "defs.json", check=True)
    assert exported.stdout.startswith("mq: exported ")
    data = json.loads((root / "defs.json").read_text())
    assert {"crm.tasks", "crm.tasks.dlq", "notifications.users"} <= {q["name"] for q in data["queues"]}
    assert (root / "defs.json").stat().st_mode & 0o777 == 0o600
    api.delete(path("exchanges", "crm", "users.events"))
    assert stapel(root, "provision", "--check").returncode == 1
    assert stapel(root, "provision", "--import", "defs.json", check=True).stdout == "mq: imported defs.json\n"
    assert without_skipped(stapel(root, "provision", "--check").stdout) == "mq: no drift\n"


def test_provision_needs_the_stack_running() -> None:
    root = traversable_dir("provision-mq-down")
    try:
        (root / "stapel.yaml").write_text("components:\n  mq: {kind: rabbitmq, port: 1, management_port: 2}\n")
        done = stapel(root, "provision")
        assert (done.returncode, done.stderr) == (1, "stapel: error: mq: not running in contour 'dev' (run stapel up first)\n")
    finally:
        shutil.rmtree(root, ignore_errors=True)
