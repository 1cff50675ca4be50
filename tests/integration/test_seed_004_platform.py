"""examples/seed-004-platform end to end, natively: seed 004's integration rules shown on its two services (users,
orders) written with stapel.kit, and the fake payments API they call. One `stapel up` for the module; each test checks
one rule: named SQL + domain errors + the cache's keys and TTL; confirmed events consumed exactly once; the DLQ with
its reason; the external client's backoff and rate limit; fail-fast config; each service's own broker users."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pika
import psycopg
import pytest
import redis
from conftest import copy_example, stapel, stapel_env, status, stop_and_clean, traversable_dir, wait_until

pytestmark = pytest.mark.integration


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict | list]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # the stack's own services
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Platform:
    def __init__(self, root: Path) -> None:
        self.root = root
        nodes = status(root)
        self.url = {name: f"http://{nodes[name]['endpoint']}" for name in ("users", "orders", "payments")}
        self.env = {name: json.loads(stapel(root, "env", "print", "--service", name, "--format", "json", "--reveal",
                                            check=True).stdout) for name in ("users", "orders")}

    def user(self, email: str) -> dict:
        code, user = http("POST", f"{self.url['users']}/users", {"email": email, "display_name": email.split("@")[0]})
        assert code == 201, user
        return user

    def known_to_orders(self, user_id: int) -> None:
        """Wait until orders consumed the user's user.created (it takes orders only for users it knows)."""
        def known() -> bool:
            with psycopg.connect(self.env["orders"]["ORDERS_DATABASE_URL"]) as conn:
                return conn.execute("SELECT 1 FROM customers WHERE user_id = %s", (user_id,)).fetchone() is not None
        assert wait_until(known, 15), f"orders never learnt of user {user_id}"

    def payments(self, **control) -> list[dict]:
        return http("POST", f"{self.url['payments']}/control", control)[1]

    def calls(self, key: str | None = None) -> list[dict]:
        calls = http("GET", f"{self.url['payments']}/calls")[1]
        return [c for c in calls if key is None or c["idempotency_key"] == key]

    def metric(self, service: str, line_start: str) -> float:
        text = urllib.request.urlopen(f"{self.url[service]}/metrics", timeout=5).read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))

    def publish(self, routing_key: str, body: bytes, message_id: str, headers: dict) -> None:
        """As the orders service would (its own RabbitMQ user), with confirms."""
        with pika.BlockingConnection(pika.URLParameters(self.env["orders"]["ORDERS_RABBITMQ_URL"])) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_publish("platform.orders", routing_key, body, pika.BasicProperties(
                message_id=message_id, headers=headers, delivery_mode=2, content_type="application/json"), mandatory=True)


@pytest.fixture(scope="module")
def platform():
    base = traversable_dir("seed-004")
    root = copy_example("seed-004-platform", base)
    try:
        started = time.monotonic()
        stapel(root, "env", "sync", "--non-interactive", check=True)
        done = stapel(root, "up", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        print(f"stapel up: {time.monotonic() - started:.1f} s")
        yield Platform(root)
    finally:
        assert not stop_and_clean(root, base)


def test_a_user_is_stored_through_named_sql_cached_with_a_ttl_and_conflicts_map_to_409(platform: Platform) -> None:
    user = platform.user("ann@example.org")
    with psycopg.connect(platform.env["users"]["USERS_DATABASE_URL"]) as conn:  # as the role users, in its schema
        row = conn.execute("SELECT email, status FROM users WHERE id = %s", (user["id"],)).fetchone()
    assert row == ("ann@example.org", "active")
    cache = redis.Redis.from_url(platform.env["users"]["USERS_REDIS_URL"], socket_timeout=5)
    key = f"users:user:{user['id']}"
    assert json.loads(cache.get(key))["email"] == "ann@example.org"
    assert 0 < cache.ttl(key) <= 300  # USERS_CACHE_TTL: no key without a TTL
    cache.delete(key)
    hits = 'stapel_kit_cache_requests_total{cache="cache",result="hit"}'
    before = platform.metric("users", hits)
    assert http("GET", f"{platform.url['users']}/users/{user['id']}")[1]["email"] == "ann@example.org"  # read through
    assert 0 < cache.ttl(key) <= 300
    assert http("GET", f"{platform.url['users']}/users/{user['id']}")[0] == 200
    assert platform.metric("users", hits) == before + 1  # the second read came from Redis

    code, body = http("POST", f"{platform.url['users']}/users", {"email": "ann@example.org"})
    assert (code, body["error"]) == (409, "Conflict"), body  # the unique violation, as the repository's Conflict
    code, body = http("GET", f"{platform.url['users']}/users/987654")
    assert (code, body["error"]) == (404, "NotFound"), body
    assert cache.exists("users:user:987654") == 0  # a miss is not cached
    for bad in ([1], {"email": "no-at-sign"}, {"email": "x@example.org", "display_name": 5}):  # bad input: 400, nothing stored
        code, body = http("POST", f"{platform.url['users']}/users", bad)
        assert (code, body["error"]) == (400, "BadRequest") and body["detail"], (bad, body)
    code, body = http("POST", f"{platform.url['orders']}/orders", {"user_id": "1", "total_cents": -1})  # stapel.kit.web
    assert (code, body["error"]) == (400, "BadRequest") and body["detail"].startswith("user_id: "), body
    assert http("GET", f"{platform.url['users']}/users/ann")[0] == 404  # not an id: no such route
    assert http("PUT", f"{platform.url['users']}/users/1", {})[0] == 405
    with psycopg.connect(platform.env["users"]["USERS_DATABASE_URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE email = 'x@example.org'").fetchone() == (0,)


def test_an_order_event_is_confirmed_and_consumed_once_even_when_delivered_twice(platform: Platform) -> None:
    user = platform.user("bob@example.org")
    platform.known_to_orders(user["id"])  # user.created went users -> orders
    code, order = http("POST", f"{platform.url['orders']}/orders", {"user_id": user["id"], "total_cents": 1250},
                       headers={"X-Correlation-ID": "checkout-42"})
    assert code == 201 and order["status"] == "paid", order
    assert platform.metric("orders", 'stapel_kit_bus_published_total{channel="orderPlaced",result="ok"}') >= 1  # confirmed
    orders_url = f"{platform.url['users']}/users/{user['id']}/orders"
    assert wait_until(lambda: http("GET", orders_url)[1] or None, 15) == [{"order_id": order["id"], "total_cents": 1250}]

    duplicates = platform.metric("users", "stapel_kit_bus_consumed_total{handler=\"order_placed\"")
    body = json.dumps({"order_id": order["id"], "user_id": user["id"], "total_cents": 1250}).encode()
    platform.publish("order.placed", body, order["message_id"], {"x-stapel-type": "order.placed", "x-stapel-version": 1})
    metric = 'stapel_kit_bus_consumed_total{handler="order_placed",queue="users.order-placed",result="duplicate"}'
    assert wait_until(lambda: platform.metric("users", metric) >= 1, 10), "the redelivery was not seen as a duplicate"
    assert platform.metric("users", "stapel_kit_bus_consumed_total{handler=\"order_placed\"") == duplicates + 1
    assert http("GET", orders_url)[1] == [{"order_id": order["id"], "total_cents": 1250}]  # still once
    log = (platform.root / ".local/logs/dev/users.log").read_text()
    line = next(json.loads(x) for x in log.splitlines() if '"order recorded"' in x and f'"order-{order["id"]}"' in x)
    assert line["correlation_id"] == "checkout-42"  # the chain's id travelled with the event


def test_a_poison_message_lands_in_the_dlq_with_its_reason(platform: Platform) -> None:
    body = json.dumps({"order_id": 777001, "user_id": 999999, "total_cents": 5}).encode()
    platform.publish("order.placed", body, "poison-1", {"x-stapel-type": "order.placed", "x-stapel-version": 1})
    platform.publish("order.placed", b"{not json", "poison-2", {"x-stapel-type": "order.placed", "x-stapel-version": 1})
    got = {}
    with pika.BlockingConnection(pika.URLParameters(platform.env["users"]["USERS_RABBITMQ_URL"])) as connection:
        channel = connection.channel()

        def drained() -> bool:
            method, props, _ = channel.basic_get("users.order-placed.dlq", auto_ack=True)
            if method is not None:
                got[props.message_id] = props.headers
            return {"poison-1", "poison-2"} <= set(got)
        assert wait_until(drained, 15), got
    assert got["poison-1"]["x-stapel-reason"] == "users: order 777001 names user 999999, who does not exist"
    assert got["poison-1"]["x-stapel-error"] == "Permanent"
    assert got["poison-2"]["x-stapel-reason"].startswith("order.placed v1 does not validate")
    assert got["poison-2"]["x-stapel-queue"] == "users.order-placed"


def test_the_payments_client_backs_off_maps_errors_and_keeps_its_rate_limit(platform: Platform) -> None:
    user = platform.user("eve@example.org")
    platform.known_to_orders(user["id"])
    place = f"{platform.url['orders']}/orders"

    platform.payments(reset=True, fail_next=2)  # two 503s, then success: three attempts, growing pauses
    code, order = http("POST", place, {"user_id": user["id"], "total_cents": 300})
    assert code == 201 and order["status"] == "paid", order
    calls = platform.calls(f"order-{order['id']}")  # one Idempotency-Key across the retries
    assert [c["status"] for c in calls] == [503, 503, 201]
    first, second = calls[1]["at"] - calls[0]["at"], calls[2]["at"] - calls[1]["at"]
    assert 0.2 <= first < 1.0 and 0.4 <= second < 1.5, (first, second)  # wait_initial 0.2, doubled, + jitter (0.2)

    platform.payments(reset=True, fail_next=10)  # still down after three attempts: temporary, the order stays placed
    code, body = http("POST", place, {"user_id": user["id"], "total_cents": 300})
    assert (code, body["error"]) == (503, "Unavailable"), body
    assert len(platform.calls()) == 3
    platform.payments(reset=True, delay=1.5)  # slower than the read timeout (ORDERS_PAYMENTS_TIMEOUT=1)
    started = time.monotonic()
    code, body = http("POST", place, {"user_id": user["id"], "total_cents": 300})
    assert (code, body["error"]) == (503, "Unavailable") and "timed out" in body["detail"], body
    assert len(platform.calls()) == 3 and time.monotonic() - started < 6
    platform.payments(reset=True)
    code, body = http("POST", place, {"user_id": user["id"], "total_cents": 5_000_000})  # refused: permanent
    assert (code, body["error"]) == (422, "Permanent") and len(platform.calls()) == 1, body

    platform.payments(reset=True)  # 25 orders at once: the client's limit is 10 requests a second
    with ThreadPoolExecutor(25) as pool:
        codes = list(pool.map(lambda n: http("POST", place, {"user_id": user["id"], "total_cents": n})[0], range(25)))
    assert codes == [201] * 25
    times = sorted(c["at"] for c in platform.calls())
    busiest = max(sum(1 for t in times if start <= t < start + 1) for start in times)
    assert len(times) == 25 and busiest <= 12, busiest  # 1 every 0.1 s at the client, +1-2 for network jitter
    assert times[-1] - times[0] >= 2.0


def test_a_missing_required_variable_stops_a_service_with_one_line(platform: Platform) -> None:
    env = {**stapel_env(), **platform.env["orders"]}
    env.pop("ORDERS_PAYMENTS_URL")
    env["PORT"] = "1"  # never reached: the config fails first
    done = subprocess.run([sys.executable, "main.py"], cwd=platform.root / "services/orders", env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["config: ORDERS_PAYMENTS_URL: missing (stapel exports it to a service that uses "
                                        "the node; or set it)"], done.stderr
    assert platform.env["orders"]["ORDERS_POSTGRES_PASSWORD"] not in done.stderr + done.stdout
    for service, settings in (("users", "main:UsersConfig"), ("orders", "main:OrdersConfig")):  # before any start:
        check = subprocess.run([sys.executable, "-m", "stapel.kit.check", settings, "--service", service],
                               cwd=platform.root, env=stapel_env(), capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr  # stapel.yaml gives each class all it requires


def test_each_service_has_its_own_role_schema_and_broker_users(platform: Platform) -> None:
    users, orders = platform.env["users"], platform.env["orders"]
    assert (users["USERS_RABBITMQ_USER"], orders["ORDERS_RABBITMQ_USER"]) == ("users", "orders")
    assert (users["USERS_REDIS_USER"], orders["ORDERS_REDIS_USER"]) == ("users", "orders")
    assert users["USERS_REDIS_URL"].endswith("/1") and orders["ORDERS_REDIS_URL"].endswith("/2")
    assert not [key for key in users if key.startswith("ORDERS_")] and "DATABASE_URL" not in users
    with pika.BlockingConnection(pika.URLParameters(users["USERS_RABBITMQ_URL"])) as connection:  # from the AsyncAPI file
        channel = connection.channel()
        for queue in ("orders.user-created", "orders.user-created.dlq", "users.order-placed", "users.order-placed.dlq"):
            channel.queue_declare(queue, passive=True)
    with pytest.raises(redis.exceptions.NoPermissionError):  # orders' Redis user may touch orders:* only
        redis.Redis.from_url(orders["ORDERS_REDIS_URL"], socket_timeout=5).get("users:user:1")
    with (pika.BlockingConnection(pika.URLParameters(orders["ORDERS_RABBITMQ_URL"])) as connection,
          pytest.raises(pika.exceptions.ChannelClosedByBroker)):  # nor read users' queue
        connection.channel().basic_get("users.order-placed")
    with psycopg.connect(users["USERS_DATABASE_URL"]) as conn:
        assert conn.execute("SELECT current_user, current_schema()").fetchone() == ("users", "users")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM orders.orders")


def test_a_second_up_changes_nothing(platform: Platform) -> None:
    again = stapel(platform.root, "up")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr



def test_an_event_whose_publish_failed_is_kept_and_published_once_rabbitmq_is_back(platform: Platform) -> None:
    stapel(platform.root, "stop", "--service", "mq", check=True)
    try:
        started = time.monotonic()
        user = platform.user("dora@example.org")  # stored; no confirm within the publish budget (3 s): kept by `at`
        assert user["published"] is False and time.monotonic() - started < 10
    finally:
        stapel(platform.root, "start", "--service", "mq", check=True, timeout=120)
    platform.known_to_orders(user["id"])  # published from `at` after the broker came back, consumed by orders
