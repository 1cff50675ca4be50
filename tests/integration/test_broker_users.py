"""Each service its own user on shared brokers (issue 13 item 7), against a real RabbitMQ and Redis started by stapel:
service a's user reads its own queue and keys but not b's, cannot create vhosts or grant itself permissions; a second
up changes nothing; a password changed behind stapel's back is re-synced; a *_RABBITMQ_URL user handed to a service
comes with the broker's real (moved) port; a service's own <SERVICE>_RABBITMQ_URL (seed 000) hands it that user on the
URL's vhost (created for it), with the own-user rule."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pika
import pytest
import redis
from conftest import stapel, status, stop_and_clean, traversable_dir
from pika.exceptions import ChannelClosedByBroker, ProbableAuthenticationError

from stapel.provision.rabbitmq_api import ApiError, ManagementApi, path

pytestmark = pytest.mark.integration

MQ_ADMIN, REDIS_ADMIN = "mq-admin-pw-3f9a1c77", "redis-admin-pw-8e2b4d19"
CRM_PASSWORD = "crm-mq-pw-5d2a9e61"
D_PASSWORD = "d-url-pw-7c1e4b93"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_yaml(mq: int, management: int, cache: int, note: str = "", mq_admin: str = MQ_ADMIN, redis_admin: str = REDIS_ADMIN) -> str:
    return f"""# {note}
name: brokers
components:
  cache: {{kind: redis, port: {cache}, password: {redis_admin}}}
  mq:
    kind: rabbitmq
    port: {mq}
    management_port: {management}
    user: admin
    password: {mq_admin}
    vhost: shop
    vhosts:
      shop:
        exchanges: {{shop.events: {{type: topic}}}}
        queues: {{a.jobs: {{}}, b.jobs: {{}}}}
        bindings: [{{exchange: shop.events, queue: a.jobs, routing_key: "a.#"}}, {{exchange: shop.events, queue: b.jobs, routing_key: "b.#"}}]
services:
  a: {{command: python3 -c pass, env_prefix: A_, uses: {{cache: {{db: 1}}, mq: {{}}}}}}
  b: {{command: python3 -c pass, env_prefix: B_, uses: {{cache: {{db: 1}}, mq: {{}}}}}}
  c: {{command: python3 -c pass, env_prefix: C_, uses: {{mq: {{user: crm}}}}}}
  d: {{command: python3 -c pass, env_prefix: D_, uses: {{mq: {{}}}}}}
"""


@pytest.fixture(scope="module")
def stack():
    root = traversable_dir("broker-users")
    busy = socket.socket()  # the broker's configured port is taken: dev moves it, and every URL must say where it went
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    mq, management, cache = busy.getsockname()[1], free_port(), free_port()
    (root / "stapel.yaml").write_text(stack_yaml(mq, management, cache))
    (root / ".env").write_text(f"CRM_RABBITMQ_URL=amqp://crm:{CRM_PASSWORD}@127.0.0.1:{mq}/crm\n"  # seed 000: a user from a URL
                               f"D_RABBITMQ_URL=amqp://d_url:{D_PASSWORD}@localhost:{mq}/side\n")  # handed to d by its name
    try:
        up = stapel(root, "up", "--skip-backend", timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        yield {"root": root, "configured": mq, "first": up, "api": ManagementApi(management, "admin", MQ_ADMIN),
               "files": (mq, management, cache), **{s: env_of(root, s) for s in "abcd"}}
    finally:
        busy.close()
        stapel(root, "down", "--volumes", "--yes", timeout=120)
        assert not stop_and_clean(root)


def env_of(root: Path, service: str) -> dict[str, str]:
    return json.loads(stapel(root, "env", "print", "--service", service, "--format", "json", "--reveal", check=True).stdout)


def last_summary(root: Path) -> dict:
    return json.loads((root / ".local" / "logs" / "bootstrap" / "latest" / "summary.json").read_text())


def provision_step(root: Path) -> dict:
    return next(s for s in last_summary(root)["steps"] if s["name"] == "provision")


def reup(stack: dict, note: str, **passwords: str) -> subprocess.CompletedProcess:
    """A full up (a changed stapel.yaml: no fast path) whose inputs are otherwise the same."""
    (stack["root"] / "stapel.yaml").write_text(stack_yaml(*stack["files"], note=note, **passwords))
    done = stapel(stack["root"], "up", "--skip-backend", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


# --- RabbitMQ ------------------------------------------------------------------------------------------------


def test_each_service_connects_as_its_own_user_on_the_moved_port(stack) -> None:
    a, b = stack["a"], stack["b"]
    assert (a["A_RABBITMQ_USER"], b["B_RABBITMQ_USER"], a["A_RABBITMQ_VHOST"]) == ("a", "b", "shop")
    assert a["A_RABBITMQ_PASSWORD"] != b["B_RABBITMQ_PASSWORD"] != MQ_ADMIN
    assert int(a["A_RABBITMQ_PORT"]) != stack["configured"] and f":{a['A_RABBITMQ_PORT']}/" in a["A_RABBITMQ_URL"]
    user = stack["api"].get(path("users", "a"))
    assert user["tags"] in ([], "")  # no administrator, no management


def test_a_reads_its_own_queue_publishes_to_the_shared_exchange_but_cannot_read_b(stack) -> None:
    with pika.BlockingConnection(pika.URLParameters(stack["a"]["A_RABBITMQ_URL"])) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("shop.events", "a.created", b"for a", mandatory=True)
        channel.basic_publish("shop.events", "b.created", b"for b", mandatory=True)
        got = None
        for _ in range(50):
            got = channel.basic_get("a.jobs", auto_ack=True)
            if got[0]:
                break
        assert got and got[2] == b"for a"
        with pytest.raises(ChannelClosedByBroker) as refused:
            channel.basic_get("b.jobs", auto_ack=True)
        assert refused.value.reply_code == 403
    with pika.BlockingConnection(pika.URLParameters(stack["a"]["A_RABBITMQ_URL"])) as connection:
        with pytest.raises(ChannelClosedByBroker) as refused:
            connection.channel().queue_delete("b.jobs")
        assert refused.value.reply_code == 403
    with pika.BlockingConnection(pika.URLParameters(stack["b"]["B_RABBITMQ_URL"])) as connection:
        assert connection.channel().basic_get("b.jobs", auto_ack=True)[2] == b"for b"  # b's own, untouched by a


def test_a_cannot_create_vhosts_or_grant_itself_permissions(stack) -> None:
    a = stack["a"]
    own = ManagementApi(int(stack["api"].port), "a", a["A_RABBITMQ_PASSWORD"])
    for method, where, body in (("PUT", path("vhosts", "mine"), {}),
                                ("PUT", path("permissions", "shop", "a"), {"configure": ".*", "write": ".*", "read": ".*"}),
                                ("PUT", path("users", "a"), {"password": "x", "tags": "administrator"})):
        with pytest.raises(ApiError) as refused:
            own.request(method, where, body)
        assert refused.value.status in (401, 403), refused.value
    assert "mine" not in {v["name"] for v in stack["api"].get("/api/vhosts")}


def test_a_url_user_is_handed_over_with_the_real_port(stack) -> None:
    c = stack["c"]
    assert (c["C_RABBITMQ_USER"], c["C_RABBITMQ_PASSWORD"], c["C_RABBITMQ_VHOST"]) == ("crm", CRM_PASSWORD, "crm")
    assert c["C_RABBITMQ_PORT"] == stack["a"]["A_RABBITMQ_PORT"]
    with pika.BlockingConnection(pika.URLParameters(c["C_RABBITMQ_URL"])) as connection:
        assert connection.channel().queue_declare("", exclusive=True).method.queue


def test_a_services_own_url_hands_it_that_user_on_its_vhost(stack) -> None:
    d = stack["d"]
    assert (d["D_RABBITMQ_USER"], d["D_RABBITMQ_PASSWORD"], d["D_RABBITMQ_VHOST"]) == ("d_url", D_PASSWORD, "side")
    assert d["D_RABBITMQ_PORT"] == stack["a"]["A_RABBITMQ_PORT"] != str(stack["configured"])  # the real port, not the URL's
    assert "d" not in {u["name"] for u in stack["api"].get("/api/users")}  # no second user it would never use
    with pika.BlockingConnection(pika.URLParameters(d["D_RABBITMQ_URL"])) as connection:
        channel = connection.channel()
        assert channel.queue_declare("d.work").method.queue == "d.work"  # its vhost side exists, its own names are its
        with pytest.raises(ChannelClosedByBroker) as refused:
            channel.queue_declare("a.jobs")  # a's name, even on another vhost
        assert refused.value.reply_code == 403


# --- Redis ---------------------------------------------------------------------------------------------------


def test_each_service_has_its_own_keys_and_no_dangerous_commands(stack) -> None:
    a, b = (redis.Redis.from_url(stack[s][f"{s.upper()}_REDIS_URL"], socket_timeout=5) for s in "ab")
    assert stack["a"]["A_REDIS_USER"] == "a" and stack["a"]["A_REDIS_PASSWORD"] != REDIS_ADMIN
    a.set("a:profile:1", "ann", ex=60)
    b.set("b:profile:1", "bob", ex=60)
    assert a.get("a:profile:1") == b"ann" and b.get("b:profile:1") == b"bob"
    for forbidden in (lambda: a.get("b:profile:1"), lambda: a.set("b:profile:1", "evil"), lambda: a.set("other", "x"),
                      lambda: a.flushall(), lambda: a.keys("*"), lambda: a.config_get("*"),
                      lambda: a.execute_command("ACL", "SETUSER", "a", "~*"), lambda: a.execute_command("ACL", "LIST")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            forbidden()
    assert b.get("b:profile:1") == b"bob"


def test_a_restarted_redis_keeps_the_services_users(stack) -> None:
    """They live in its aclfile beside the default user (no secret there: SHA-256 hashes), not only in its memory."""
    acl = next((stack["root"] / ".local").rglob("conf/cache/users.acl")).read_text()
    assert acl.startswith("user default on #") and "user a on #" in acl and "~a:*" in acl and "-@dangerous" in acl
    assert REDIS_ADMIN not in acl and stack["a"]["A_REDIS_PASSWORD"] not in acl
    before = status(stack["root"])["cache"]["pid"]
    done = stapel(stack["root"], "restart", "--service", "cache", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert status(stack["root"])["cache"]["pid"] != before  # a new process, which read its aclfile
    client = redis.Redis.from_url(stack["a"]["A_REDIS_URL"], socket_timeout=5)
    assert client.set("a:after-restart", "yes", ex=60) and client.get("a:after-restart") == b"yes"


# --- idempotence and re-sync (keep last: they re-up the stack) ------------------------------------------------


def test_the_first_up_provisioned_them_and_a_second_changes_nothing(stack) -> None:
    said = stack["first"].stdout
    for line in ("mq: created user a", "mq: created user b", "cache: created user a", "cache: created user b"):
        assert line in said, said
    for secret in (stack["a"]["A_RABBITMQ_PASSWORD"], stack["a"]["A_REDIS_PASSWORD"], MQ_ADMIN, REDIS_ADMIN):
        assert secret not in said
    reup(stack, "second")
    step = provision_step(stack["root"])
    assert step["status"] == "ok" and not step.get("changes"), step


def test_a_password_changed_behind_stapels_back_is_resynced(stack) -> None:
    a = stack["a"]
    stack["api"].put(path("users", "a"), {"password": "changed-by-hand-1", "tags": ""})
    admin = redis.Redis(port=int(a["A_REDIS_PORT"]), password=REDIS_ADMIN, socket_timeout=5)
    admin.execute_command("ACL", "SETUSER", "a", "resetpass", ">changed-by-hand-2")
    with pytest.raises(ProbableAuthenticationError):
        pika.BlockingConnection(pika.URLParameters(a["A_RABBITMQ_URL"]))
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(a["A_REDIS_URL"], socket_timeout=5).ping()
    done = reup(stack, "third")
    assert "mq: synced the password of user a" in done.stdout and "cache: synced the password of user a" in done.stdout
    assert sorted(provision_step(stack["root"])["changes"]) == ["cache: synced the password of user a", "mq: synced the password of user a"]
    with pika.BlockingConnection(pika.URLParameters(a["A_RABBITMQ_URL"])):
        pass
    assert redis.Redis.from_url(a["A_REDIS_URL"], socket_timeout=5).ping()


def test_a_changed_component_password_changes_and_resyncs_every_services_password(stack) -> None:
    old = stack["a"]
    done = reup(stack, "fourth", mq_admin="mq-admin-pw-rotated-2b", redis_admin="redis-admin-pw-rotated-7c")
    new = env_of(stack["root"], "a")
    assert new["A_RABBITMQ_PASSWORD"] != old["A_RABBITMQ_PASSWORD"] and new["A_REDIS_PASSWORD"] != old["A_REDIS_PASSWORD"]
    for line in ("mq: synced the password of user a", "mq: synced the password of user b",
                 "cache: synced the password of user a", "cache: synced the password of user b"):
        assert line in done.stdout, done.stdout
    with pika.BlockingConnection(pika.URLParameters(new["A_RABBITMQ_URL"])):
        pass
    assert redis.Redis.from_url(new["A_REDIS_URL"], socket_timeout=5).ping()
    with pytest.raises(ProbableAuthenticationError):
        pika.BlockingConnection(pika.URLParameters(old["A_RABBITMQ_URL"]))
