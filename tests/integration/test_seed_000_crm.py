"""examples/seed-000-crm natively, checked against seed 000: the eight schemas in one cluster, each service's role
seeing only its own schemas, each service migrated by the tool the seed names (crm-api: Alembic; auth and audit:
goose-format files run by stapel's runner; reports: `psql -f`), the five exchanges with real publishers and consumers
on stapel.kit.bus (an event published by crm-api is recorded by audit and counted by reports exactly once, a
redelivered copy skipped by the inbox), `stapel seed` loading the seed data once, and the lifecycle of
bootstrap-local.sh / start-backend.sh / stop-backend.sh: `up --skip-backend` starts no service, `up --service
gateway,crm-api` those two and what they need, `stop --backend` stops every service and the infrastructure keeps
answering. RabbitMQ users: with the .env `stapel env sync` makes from env.example, each publishing or consuming service
connects as the user its <SERVICE>_RABBITMQ_URL names (seed 000's bootstrap), at the broker's real address; with those
URLs removed, as a user named after it, and the events still flow.

Consul runs only where its binary is (it is in neither Debian nor PyPI): without it the stack runs without the
component `registry` (the gateway then registers nowhere) and test_gateway_registers_in_consul says so in its skip
reason. The tests run in file order on one stack."""

from __future__ import annotations

import functools
import json
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pika
import pika.exceptions
import psycopg
import pytest
import redis
import yaml
from conftest import copy_example, stapel, status, stop_and_clean, traversable_dir, wait_until

from stapel.provision.rabbitmq_api import ManagementApi

pytestmark = pytest.mark.integration

EXAMPLE = "seed-000-crm"
NO_CONSUL = shutil.which("consul") is None
SCHEMAS = {"auth", "crm", "documents", "tasks", "notifications", "reports", "audit", "bot"}
SERVICES = {"gateway", "crm-api", "auth", "audit-log", "reports"}
INFRASTRUCTURE = {"db", "cache", "mq"} | (set() if NO_CONSUL else {"registry"})
OWN = {"crm-api": ("crm", {"crm", "documents", "tasks", "notifications"}), "auth": ("auth", {"auth"}),
       "audit-log": ("audit", {"audit"}), "reports": ("reports", {"reports"})}
FOREIGN = {"crm-api": "audit.events_log", "auth": "crm.clients", "audit-log": "auth.users", "reports": "auth.users"}
URL_USERS = {"crm-api": ("crm_api", "CRM_API"), "auth": ("auth_api", "AUTH"), "audit-log": ("audit_api", "AUDIT_LOG"),
             "reports": ("reports_api", "REPORTS")}  # env.example: <SERVICE>_RABBITMQ_URL, its password <SERVICE>_MQ_PASSWORD


@pytest.fixture(scope="module")
def root():
    base = traversable_dir("crm")
    project = copy_example(EXAMPLE, base)
    if NO_CONSUL:
        path = project / "stapel.yaml"
        data = yaml.safe_load(path.read_text())
        del data["components"]["registry"]
        data["services"]["gateway"]["depends_on"].remove("registry")
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        stapel(project, "env", "sync", "--non-interactive", check=True)
        yield project
    finally:
        assert not stop_and_clean(project, base)


def http(method: str, url: str, body: dict | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # the stack's own services
            text = response.read().decode()
            return response.status, json.loads(text) if text.startswith(("{", "[")) else text
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@functools.cache
def env_of(root: Path, service: str) -> dict[str, str]:
    return json.loads(stapel(root, "env", "print", "--service", service, "--format", "json", "--reveal", check=True).stdout)


def dotenv(root: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (root / ".env").read_text().splitlines() if "=" in line and not line.startswith("#"))


def admin_dsn(root: Path) -> str:
    host, port = status(root)["db"]["endpoint"].rsplit(":", 1)
    return f"postgresql://postgres:{dotenv(root)['DB_PASSWORD']}@{host}:{port}/crm"


def running(root: Path) -> set[str]:
    return {name for name, node in status(root).items() if node["state"] == "running"}


def url(root: Path, service: str) -> str:
    return f"http://{status(root)[service]['endpoint']}"


def up(root: Path, *args: str) -> str:
    started = time.monotonic()
    done = stapel(root, "up", *args, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"up {' '.join(args)}: {time.monotonic() - started:.1f}s")
    return done.stdout


def test_skip_backend_starts_the_infrastructure_with_the_eight_schemas_and_no_service(root: Path) -> None:
    up(root, "--skip-backend", "--skip-seeds")
    assert running(root) == INFRASTRUCTURE
    with psycopg.connect(admin_dsn(root), connect_timeout=5) as conn:
        found = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolcanlogin")}
    assert found >= SCHEMAS, SCHEMAS - found
    assert {"auth", "crm", "audit", "reports", "bot"} <= roles


def test_service_selection_starts_those_and_what_they_need(root: Path) -> None:
    up(root, "--service", "gateway,crm-api", "--skip-seeds")
    assert running(root) == INFRASTRUCTURE | {"gateway", "crm-api", "auth"}  # the gateway routes to auth: it needs it
    code, clients = http("GET", f"{url(root, 'gateway')}/api/clients")
    assert (code, clients) == (200, [])  # no seeds yet


def test_stapel_seed_loads_the_seed_data_once(root: Path) -> None:
    started = time.monotonic()
    first = stapel(root, "seed", timeout=300)
    print(f"seed (and the rest of up): {time.monotonic() - started:.1f}s")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "seeded auth/seeds/users.sql" in first.stdout and "seeded crm/seeds/clients.sql" in first.stdout, first.stdout
    assert running(root) == INFRASTRUCTURE | SERVICES
    code, clients = http("GET", f"{url(root, 'gateway')}/api/clients")
    assert code == 200 and [c["email"] for c in clients] == ["office@acme.example", "info@globex.example"], clients
    code, login = http("POST", f"{url(root, 'gateway')}/api/auth/login", {"email": "admin@crm.local", "password": "dev-only-admin"})
    assert code == 200 and login["role"] == "admin", login
    again = stapel(root, "seed", timeout=300)
    assert again.returncode == 0 and "seeded" not in again.stdout and "nothing to do" in again.stdout, again.stdout + again.stderr


def test_each_service_migrated_by_its_own_tool(root: Path) -> None:
    with psycopg.connect(admin_dsn(root), connect_timeout=5) as conn:
        def rows(sql: str) -> list[tuple]:
            return conn.execute(sql).fetchall()
        assert rows("SELECT version_num FROM crm.alembic_version") == [("001",)]  # Alembic
        assert rows("SELECT version_id FROM auth.goose_db_version WHERE version_id > 0 ORDER BY 1") == [(20250101000000,), (20250101000100,)]
        assert rows("SELECT version_id FROM audit.goose_db_version WHERE version_id > 0") == [(20250101000000,)]
        assert rows("SELECT version, tool FROM reports.schema_migrations") == [("001_init", "psql")]
        tables = {r[0] for r in conn.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables "
                                             "WHERE table_schema = ANY(%s)", (sorted(SCHEMAS),))}
    assert {"crm.clients", "documents.documents", "tasks.tasks", "notifications.outbox", "auth.users", "auth.sessions",
            "audit.events_log", "reports.event_counts", "reports.backups"} <= tables, tables
    assert not {"reports.goose_db_version", "reports.alembic_version", "crm.goose_db_version"} & tables


@pytest.mark.parametrize("service", sorted(OWN))
def test_each_role_sees_only_its_own_schemas(root: Path, service: str) -> None:
    role, schemas = OWN[service]
    with psycopg.connect(env_of(root, service)["DATABASE_URL"], connect_timeout=5, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
        visible = {r[0] for r in conn.execute("SELECT DISTINCT table_schema FROM information_schema.tables "
                                              "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")}
        assert visible == schemas, visible
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT 1 FROM {FOREIGN[service]} LIMIT 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE bot.intruder (id int)")


def test_each_service_connects_to_rabbitmq_as_the_user_of_its_url(root: Path) -> None:
    """Each service the user its <SERVICE>_RABBITMQ_URL in .env names (the URL says localhost:5672; the service gets
    the broker's real address), on the vhost crm; reports' queues are its own: another service's user may not read
    them. The gateway sees no broker at all."""
    env = dotenv(root)
    for service, (user, prefix) in URL_USERS.items():
        assert "@localhost:5672/crm" in env[f"{prefix}_RABBITMQ_URL"]
        parts = urllib.parse.urlsplit(env_of(root, service)["RABBITMQ_URL"])
        assert (parts.username, parts.password, parts.hostname, parts.port, parts.path) == (
            user, env[f"{prefix}_MQ_PASSWORD"], "127.0.0.1", mq_port(root), "/crm")
    assert "RABBITMQ_URL" not in env_of(root, "gateway")
    with (pika.BlockingConnection(pika.URLParameters(env_of(root, "auth")["RABBITMQ_URL"])) as connection,
          pytest.raises(pika.exceptions.ChannelClosedByBroker, match="ACCESS_REFUSED")):
        connection.channel().basic_get("reports.crm-events")
    reports = env_of(root, "reports")
    assert reports["REPORTS_DATABASE_URL"] == reports["DATABASE_URL"]  # derived env: psql -f runs with the seed's name


def mq_port(root: Path) -> int:
    return int(status(root)["mq"]["endpoint"].rsplit(":", 1)[1])


def connected_users(root: Path) -> set[str]:
    """The users of the broker's open connections, from its management API (as the administrator crm)."""
    port = urllib.parse.urlsplit(env_of(root, "crm-api")["RABBITMQ_MANAGEMENT_URL"]).port
    return {c["user"] for c in ManagementApi(port, "crm", dotenv(root)["MQ_PASSWORD"]).get("/api/connections")}


def test_the_consumers_are_connected_as_their_url_users(root: Path) -> None:
    """What the broker sees: the consuming services hold connections as crm_api, audit_api and reports_api, none as a
    user named after a service."""
    expected = {"crm_api", "audit_api", "reports_api"}
    assert wait_until(lambda: expected <= connected_users(root), timeout=15), connected_users(root)
    assert not connected_users(root) & set(SERVICES)


def consumed(root: Path, service: str, handler: str, result: str) -> float:
    code, text = http("GET", f"{url(root, service)}/metrics")
    assert code == 200
    pattern = rf'^stapel_kit_bus_consumed_total{{[^}}]*handler="{re.escape(handler)}"[^}}]*result="{result}"[^}}]*}} (\S+)$'
    found = re.search(pattern, str(text), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_client_created_event_is_consumed_exactly_once(root: Path) -> None:
    code, client = http("POST", f"{url(root, 'gateway')}/api/clients", {"name": "Ann", "email": "ann@example.org"})
    assert code == 201, client
    message_id = f"client-created-{client['id']}"

    def audited() -> list[tuple]:
        with psycopg.connect(env_of(root, "audit-log")["DATABASE_URL"], connect_timeout=5) as conn:
            return conn.execute("SELECT exchange, event_type, payload->>'email' FROM events_log WHERE message_id = %s",
                                (message_id,)).fetchall()
    assert wait_until(audited, timeout=15) == [("crm.events", "ClientCreated", "ann@example.org")]
    assert wait_until(lambda: http("GET", f"{url(root, 'reports')}/api/reports/today")[1] == {"ClientCreated": 1, "TaskCreated": 1},
                      timeout=15), http("GET", f"{url(root, 'reports')}/api/reports/today")
    assert wait_until(lambda: http("GET", f"{url(root, 'gateway')}/api/notifications")[1], timeout=15) == [
        {"recipient": "ann@example.org", "text": "Welcome, Ann", "message_id": f"welcome-{client['id']}"}]

    # the same message again (a redelivery after a lost ack looks like this): both consumers skip it
    host, port = status(root)["mq"]["endpoint"].rsplit(":", 1)
    params = pika.ConnectionParameters(host, int(port), "crm", pika.PlainCredentials("crm", dotenv(root)["MQ_PASSWORD"]))
    with pika.BlockingConnection(params) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        body = json.dumps({"client_id": client["id"], "name": "Ann", "email": "ann@example.org"})
        channel.basic_publish("crm.events", "client.created", body, pika.BasicProperties(
            message_id=message_id, delivery_mode=2, content_type="application/json",
            headers={"x-stapel-type": "ClientCreated", "x-stapel-version": 1}))
    assert wait_until(lambda: consumed(root, "audit-log", "audit.clientCreatedAudit", "duplicate") == 1, timeout=15)
    assert wait_until(lambda: consumed(root, "reports", "reports.clients", "duplicate") == 1, timeout=15)
    assert audited() == [("crm.events", "ClientCreated", "ann@example.org")]
    assert http("GET", f"{url(root, 'reports')}/api/reports/today")[1] == {"ClientCreated": 1, "TaskCreated": 1}


def test_the_other_exchanges_reach_audit(root: Path) -> None:
    """audit.events (auth's logins) and backup.notifications (reports' backups, fanout) have their consumer too."""
    code, _ = http("POST", f"{url(root, 'gateway')}/api/auth/login", {"email": "admin@crm.local", "password": "wrong"})
    assert code == 401
    code, backup = http("POST", f"{url(root, 'reports')}/api/reports/backup", {"name": "nightly"})
    assert code == 201 and backup["rows"] == 2, backup

    def kinds() -> dict[str, int]:
        code, events = http("GET", f"{url(root, 'audit-log')}/api/audit")
        assert code == 200
        return {e["exchange"] + ":" + e["event_type"]: 1 for e in events}  # type: ignore[union-attr]
    assert wait_until(lambda: len(kinds()) == 3, timeout=15), kinds()
    assert set(kinds()) == {"crm.events:ClientCreated", "audit.events:UserLoggedIn", "backup.notifications:BackupFinished"}


def test_the_gateway_counts_each_clients_requests_in_redis_with_a_ttl(root: Path) -> None:
    """Its rate limit: a counter per client and minute under gateway:ratelimit:, never without an expiry."""
    host, port = status(root)["cache"]["endpoint"].rsplit(":", 1)
    client = redis.Redis(host=host, port=int(port), db=int(env_of(root, "gateway")["REDIS_DB"]), socket_timeout=3)
    before = sum(int(client.get(k) or 0) for k in client.keys("gateway:ratelimit:127.0.0.1:*"))
    for _ in range(3):
        assert http("GET", f"{url(root, 'gateway')}/api/clients")[0] == 200
    keys = client.keys("gateway:ratelimit:127.0.0.1:*")
    assert keys and all(0 < client.ttl(k) <= 120 for k in keys)
    assert sum(int(client.get(k) or 0) for k in keys) - before == 3


@pytest.mark.skipif(NO_CONSUL, reason="no consul binary on this machine (HashiCorp's apt repository or "
                                      "`brew install hashicorp/tap/consul`): the stack ran without its Consul")
def test_gateway_registers_in_consul(root: Path) -> None:
    code, services = http("GET", f"http://{status(root)['registry']['endpoint']}/v1/agent/services")
    assert code == 200 and any(s["Service"] == "gateway" for s in services.values()), services  # type: ignore[union-attr]


def test_stop_backend_stops_every_service_and_keeps_the_infrastructure(root: Path) -> None:
    started = time.monotonic()
    done = stapel(root, "stop", "--backend", timeout=120)
    print(f"stop --backend: {time.monotonic() - started:.1f}s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert running(root) == INFRASTRUCTURE
    with psycopg.connect(admin_dsn(root), connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM crm.clients").fetchone() == (3,)
    host, port = status(root)["cache"]["endpoint"].rsplit(":", 1)
    assert redis.Redis(host=host, port=int(port), socket_timeout=3).ping()
    host, port = status(root)["mq"]["endpoint"].rsplit(":", 1)
    params = pika.ConnectionParameters(host, int(port), "crm", pika.PlainCredentials("crm", dotenv(root)["MQ_PASSWORD"]))
    with pika.BlockingConnection(params) as connection:  # the queues are kept, the consumers gone
        assert connection.channel().queue_declare("audit.crm-events", passive=True).method.consumer_count == 0


def test_without_the_urls_each_service_connects_as_its_own_user(root: Path) -> None:
    """The .env without its *_RABBITMQ_URL lines (as a .env made before them): every service is back to a user named
    after it, and an event still reaches its consumers."""
    path = root / ".env"
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True) if "_RABBITMQ_URL=" not in line))
    env_of.cache_clear()
    up(root, "--skip-seeds")
    assert running(root) == INFRASTRUCTURE | SERVICES
    for service in URL_USERS:
        assert urllib.parse.urlsplit(env_of(root, service)["RABBITMQ_URL"]).username == service
    assert wait_until(lambda: {"crm-api", "audit-log", "reports"} <= connected_users(root), timeout=15), connected_users(root)
    code, client = http("POST", f"{url(root, 'gateway')}/api/clients", {"name": "Bob", "email": "bob@example.org"})
    assert code == 201, client
    assert wait_until(lambda: http("GET", f"{url(root, 'reports')}/api/reports/today")[1] == {"ClientCreated": 2, "TaskCreated": 2},
                      timeout=15), http("GET", f"{url(root, 'reports')}/api/reports/today")
