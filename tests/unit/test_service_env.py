"""What each service sees (env_prefix, uses:, connection strings of seed 000) and `stapel env print`, in-process."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap

import pika
import psycopg
import pytest
import redis
from dotenv import dotenv_values

from stapel.cli.main import main
from stapel.engine.stack import open_stack
from stapel.env.secrets import derived_password

PASSWORD = "p@ss:w/rd %#?"  # every character a URL gives a meaning to
STACK = f"""
components:
  db:
    kind: postgres
    user: app
    password: '{PASSWORD}'
    database: shop
  cache:
    kind: redis
    password: r3dis-secret-x
  mq:
    kind: rabbitmq
    user: app
    password: mq-secret-x
    vhost: /
  metrics:
    kind: prometheus
services:
  users:
    command: python3 users.py
    port: 8001
    env_prefix: USERS_
    uses:
      db: {{schema: users}}
      cache: {{db: 2}}
      mq: {{}}
  web:
    command: python3 web.py
    port: 8002
    depends_on: [users, cache]
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(project, text: str) -> None:
    (project / "stapel.yaml").write_text(textwrap.dedent(text).lstrip("\n"))


def env_of(project, service: str, text: str = STACK) -> dict[str, str]:
    write(project, text)
    stack = open_stack(project / "stapel.yaml", env={})
    return stack.service_env(stack.nodes[service])


def printed(capsys, *args: str) -> str:
    assert main(["env", "print", *args]) == 0
    return capsys.readouterr().out


# --- names and prefixes -----------------------------------------------------------------------


def test_seed_004_prefixed_credentials(project):
    env = env_of(project, "users")
    assert (env["USERS_POSTGRES_USER"], env["USERS_POSTGRES_PASSWORD"], env["USERS_POSTGRES_DB"]) == ("app", PASSWORD, "shop")
    assert (env["USERS_REDIS_USER"], env["USERS_REDIS_DB"]) == ("users", "2")  # its own ACL user (issue 13 item 7)
    assert env["USERS_REDIS_PASSWORD"] == derived_password("r3dis-secret-x", "redis", "cache", "users")
    assert not [key for key in env if not key.startswith("USERS_")]


def test_every_name_a_service_gets_from_what_it_uses(project):
    env = env_of(project, "users")
    rpw, mpw = derived_password("r3dis-secret-x", "redis", "cache", "users"), derived_password("mq-secret-x", "rabbitmq", "mq", "users")
    pg = "app:p%40ss%3Aw%2Frd%20%25%23%3F@127.0.0.1:5432/shop"
    assert env == {
        "USERS_DATABASE_URL": f"postgresql://{pg}?options=-csearch_path%3Dusers",
        "USERS_DATABASE_URL_ASYNCPG": f"postgresql://{pg}?search_path=users",
        "USERS_DATABASE_URL_SQLALCHEMY": f"postgresql+asyncpg://{pg}",
        "USERS_JDBC_URL": "jdbc:postgresql://127.0.0.1:5432/shop?currentSchema=users",
        "USERS_R2DBC_URL": f"r2dbc:postgresql://{pg}?schema=users",
        "USERS_POSTGRES_HOST": "127.0.0.1", "USERS_POSTGRES_PORT": "5432", "USERS_POSTGRES_USER": "app",
        "USERS_POSTGRES_PASSWORD": PASSWORD, "USERS_POSTGRES_DB": "shop", "USERS_POSTGRES_SCHEMA": "users",
        "USERS_DB_URL": f"postgresql://{pg}?options=-csearch_path%3Dusers",
        "USERS_DB_HOST": "127.0.0.1", "USERS_DB_PORT": "5432", "USERS_DB_USER": "app", "USERS_DB_PASSWORD": PASSWORD,
        "USERS_DB_DB": "shop", "USERS_DB_SCHEMA": "users",
        "USERS_REDIS_URL": f"redis://users:{rpw}@127.0.0.1:6379/2",
        "USERS_REDIS_HOST": "127.0.0.1", "USERS_REDIS_PORT": "6379", "USERS_REDIS_USER": "users", "USERS_REDIS_PASSWORD": rpw,
        "USERS_REDIS_DB": "2",
        "USERS_CACHE_URL": f"redis://users:{rpw}@127.0.0.1:6379/2",
        "USERS_CACHE_HOST": "127.0.0.1", "USERS_CACHE_PORT": "6379", "USERS_CACHE_USER": "users", "USERS_CACHE_PASSWORD": rpw,
        "USERS_CACHE_DB": "2",
        "USERS_RABBITMQ_URL": f"amqp://users:{mpw}@127.0.0.1:5672/%2F",
        "USERS_RABBITMQ_HOST": "127.0.0.1", "USERS_RABBITMQ_PORT": "5672", "USERS_RABBITMQ_USER": "users",
        "USERS_RABBITMQ_PASSWORD": mpw, "USERS_RABBITMQ_VHOST": "/", "USERS_RABBITMQ_MANAGEMENT_URL": "http://127.0.0.1:15672",
        "USERS_MQ_URL": f"amqp://users:{mpw}@127.0.0.1:5672/%2F",
        "USERS_MQ_HOST": "127.0.0.1", "USERS_MQ_PORT": "5672", "USERS_MQ_USER": "users", "USERS_MQ_PASSWORD": mpw,
        "USERS_MQ_VHOST": "/", "USERS_MQ_MANAGEMENT_URL": "http://127.0.0.1:15672",
    }


def test_without_a_schema_or_prefix_the_urls_are_plain(project):
    env = env_of(project, "api", """
        components:
          db: {kind: postgres, password: s3cr3t-value-x}
          cache: {kind: redis}
          metrics: {kind: prometheus}
        services:
          api: {command: python3 api.py, depends_on: [db, cache], uses: [metrics]}
        """)
    pg = "postgres:s3cr3t-value-x@127.0.0.1:5432/postgres"
    assert (env["DATABASE_URL"], env["DATABASE_URL_ASYNCPG"]) == (f"postgresql://{pg}", f"postgresql://{pg}")
    assert (env["JDBC_URL"], env["R2DBC_URL"]) == ("jdbc:postgresql://127.0.0.1:5432/postgres", f"r2dbc:postgresql://{pg}")
    assert "POSTGRES_SCHEMA" not in env and "DB_SCHEMA" not in env
    assert (env["REDIS_URL"], env["REDIS_DB"]) == ("redis://127.0.0.1:6379/0", "0")
    assert "REDIS_PASSWORD" not in env and "CACHE_PASSWORD" not in env
    assert (env["PROMETHEUS_URL"], env["METRICS_URL"], env["METRICS_PORT"]) == ("http://127.0.0.1:9090", "http://127.0.0.1:9090", "9090")


def test_a_service_sees_another_service_by_name_only(project):
    env = env_of(project, "web")
    assert {k: v for k, v in env.items() if k.startswith("USERS_")} == {
        "USERS_URL": "http://127.0.0.1:8001", "USERS_HOST": "127.0.0.1", "USERS_PORT": "8001"}


# --- visibility -------------------------------------------------------------------------------


def test_a_service_sees_only_its_depends_on_and_uses(project):
    env = env_of(project, "web")
    assert env["REDIS_URL"] == f"redis://web:{derived_password('r3dis-secret-x', 'redis', 'cache', 'web')}@127.0.0.1:6379/0"  # db 0
    for hidden in ("RABBITMQ_URL", "MQ_URL", "DATABASE_URL", "DB_URL", "PROMETHEUS_URL", "METRICS_URL"):
        assert hidden not in env
    assert env_of(project, "lone", STACK + "  lone:\n    command: python3 lone.py\n") == {}


def test_kind_wide_names_belong_to_the_first_of_the_kind_by_name_always_there(project):
    env = env_of(project, "api", """
        components:
          main: {kind: postgres, port: 5433}
          reports: {kind: postgres, port: 5434}
        services:
          api:
            command: python3 api.py
            depends_on: [reports]
            uses: {main: {schema: crm}}
        """)
    assert env["DATABASE_URL"] == "postgresql://postgres:postgres@127.0.0.1:5434/postgres"
    assert env["POSTGRES_PORT"] == "5434" and "POSTGRES_SCHEMA" not in env  # nothing of main's mixed in
    assert env["MAIN_URL"] == "postgresql://postgres:postgres@127.0.0.1:5433/postgres?options=-csearch_path%3Dcrm"
    assert (env["MAIN_SCHEMA"], env["REPORTS_PORT"]) == ("crm", "5434")


def test_consul_is_seen_with_its_http_addr(project):
    env = env_of(project, "api", """
        components:
          registry: {kind: consul}
        services:
          api: {command: python3 api.py, env_prefix: API_, uses: [registry]}
        """)
    assert env == {"API_CONSUL_URL": "http://127.0.0.1:8500", "API_CONSUL_HTTP_ADDR": "http://127.0.0.1:8500",
                   "API_CONSUL_HOST": "127.0.0.1", "API_CONSUL_PORT": "8500", "API_REGISTRY_URL": "http://127.0.0.1:8500",
                   "API_REGISTRY_HOST": "127.0.0.1", "API_REGISTRY_PORT": "8500"}


@pytest.mark.parametrize(("uses", "message"), [
    ("{dbb: {}}", "services.users.uses.dbb: unknown name 'dbb'; did you mean 'db'?"),
    ("[users]", "services.users.uses.users: a service cannot use itself"),
    ("{cache: {schema: x}}", "services.users.uses.cache.schema: 'schema' applies to postgres components only ('cache' is redis)"),
    ("{db: {db: 1}}", "services.users.uses.db.db: 'db' applies to redis components only ('db' is postgres)"),
    ("{db: {schema: 'a b'}}", "services.users.uses.db.schema: 'a b' is not valid here "
                              "(an SQL identifier: letters, digits and _, starting with a letter or _)"),
    ("{db: {user: x}}", "services.users.uses.db.user: 'user' applies to redis or rabbitmq components only ('db' is postgres)"),
    ("{mq: {keys: 'a:*'}}", "services.users.uses.mq.keys: 'keys' applies to redis components only ('mq' is rabbitmq)"),
    ("{cache: {user: bob}}", "services.users.uses.cache.user: a Redis user is 'default' (the opt-out) or, leaving user out, "
                             "the service's own"),
    ("{cache: {user: default, keys: 'a:*'}}", "services.users.uses.cache.keys: keys are those of the service's own user; "
                                              "with user: 'default' leave them out"),
    ("{cache: {keys: 'a b'}}", "services.users.uses.cache.keys: 'a b' is not a key pattern (a glob without spaces, e.g. users:*)"),
    ("{cache: {keys: []}}", "services.users.uses.cache.keys: List should have at least 1 item after validation, not 0"),
])
def test_a_wrong_use_is_one_error_line(project, capsys, uses, message):
    write(project, STACK.replace("uses:\n      db: {schema: users}\n      cache: {db: 2}\n      mq: {}", f"uses: {uses}"))
    assert main(["env", "print", "--service", "users"]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(rf"stapel: error: stapel\.yaml:\d+: {re.escape(message)}\n", err), err


# --- special characters: the real client libraries read every URL back -----------------------

ODD = "p@ss:w/rd %#?'\"\\"


def odd_env(project) -> dict[str, str]:
    return env_of(project, "api", f"""
        components:
          db: {{kind: postgres, user: 'u@s:er', password: '{ODD.replace("'", "''")}', database: 'my db/1'}}
          cache: {{kind: redis, password: '{ODD.replace("'", "''")}'}}
          mq: {{kind: rabbitmq, user: 'u@s:er', password: '{ODD.replace("'", "''")}', vhost: 'team/a b'}}
        services:
          api: {{command: python3 api.py, uses: {{db: {{schema: users}}, cache: {{db: 3, user: default}}, mq: {{user: 'u@s:er'}}}}}}
        """)


def test_psycopg_reads_the_libpq_url_back(project):
    params = psycopg.conninfo.conninfo_to_dict(odd_env(project)["DATABASE_URL"])
    assert params == {"user": "u@s:er", "password": ODD, "host": "127.0.0.1", "port": "5432", "dbname": "my db/1",
                      "options": "-csearch_path=users"}


def test_redis_py_reads_the_url_back(project):
    kwargs = redis.Redis.from_url(odd_env(project)["REDIS_URL"]).connection_pool.connection_kwargs
    assert (kwargs["password"], kwargs["host"], kwargs["port"], kwargs["db"]) == (ODD, "127.0.0.1", 6379, 3)
    assert kwargs.get("username") is None  # `user: default`: the component's password, no user name


def test_redis_py_reads_the_own_user_back(project):
    kwargs = redis.Redis.from_url(env_of(project, "users")["USERS_REDIS_URL"]).connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"]) == ("users", derived_password("r3dis-secret-x", "redis", "cache", "users"))


def test_pika_reads_the_amqp_url_back(project):
    params = pika.URLParameters(odd_env(project)["RABBITMQ_URL"])
    assert (params.credentials.username, params.credentials.password) == ("u@s:er", ODD)
    assert (params.host, params.port, params.virtual_host) == ("127.0.0.1", 5672, "team/a b")


def test_jdbc_and_r2dbc_are_percent_encoded(project):
    env = odd_env(project)
    assert env["JDBC_URL"] == "jdbc:postgresql://127.0.0.1:5432/my%20db%2F1?currentSchema=users"
    assert env["R2DBC_URL"] == ("r2dbc:postgresql://u%40s%3Aer:p%40ss%3Aw%2Frd%20%25%23%3F%27%22%5C@127.0.0.1:5432/my%20db%2F1"
                                "?schema=users")


# --- stapel env print -------------------------------------------------------------------------


def test_env_print_dotenv_exact(project, capsys):
    write(project, """
        components:
          db: {kind: postgres, password: s3cr3t-value-x}
        services:
          api:
            command: python3 api.py
            port: 8000
            env_prefix: API_
            depends_on: [db]
            env: {LOG_LEVEL: info}
        """)
    assert printed(capsys, "--service", "api", "--reveal") == "\n".join([
        'API_DATABASE_URL="postgresql://postgres:s3cr3t-value-x@127.0.0.1:5432/postgres"',
        'API_DATABASE_URL_ASYNCPG="postgresql://postgres:s3cr3t-value-x@127.0.0.1:5432/postgres"',
        'API_DATABASE_URL_SQLALCHEMY="postgresql+asyncpg://postgres:s3cr3t-value-x@127.0.0.1:5432/postgres"',
        'API_DB_DB="postgres"', 'API_DB_HOST="127.0.0.1"', 'API_DB_PASSWORD="s3cr3t-value-x"', 'API_DB_PORT="5432"',
        'API_DB_URL="postgresql://postgres:s3cr3t-value-x@127.0.0.1:5432/postgres"', 'API_DB_USER="postgres"',
        'API_JDBC_URL="jdbc:postgresql://127.0.0.1:5432/postgres"',
        'API_POSTGRES_DB="postgres"', 'API_POSTGRES_HOST="127.0.0.1"', 'API_POSTGRES_PASSWORD="s3cr3t-value-x"',
        'API_POSTGRES_PORT="5432"', 'API_POSTGRES_USER="postgres"',
        'API_R2DBC_URL="r2dbc:postgresql://postgres:s3cr3t-value-x@127.0.0.1:5432/postgres"',
        'HOST="127.0.0.1"', 'LOG_LEVEL="info"', 'PORT="8000"', ""])


def test_env_print_masks_unless_reveal(project, capsys):
    write(project, STACK)
    masked = json.loads(printed(capsys, "--service", "users", "--format", "json"))
    assert masked["USERS_POSTGRES_PASSWORD"] == "******" and masked["USERS_REDIS_PASSWORD"] == "******"
    assert masked["USERS_DATABASE_URL"] == "postgresql://app:******@127.0.0.1:5432/shop?options=-csearch_path%3Dusers"
    assert masked["USERS_RABBITMQ_URL"] == "amqp://users:******@127.0.0.1:5672/%2F"
    assert masked["USERS_RABBITMQ_PASSWORD"] == "******" and masked["USERS_REDIS_URL"] == "redis://users:******@127.0.0.1:6379/2"
    for out in (json.dumps(masked), printed(capsys, "--service", "users"), printed(capsys, "--service", "users", "--format", "shell")):
        assert "r3dis" not in out and "mq-secret" not in out and "p@ss" not in out and "p%40ss" not in out
        revealed_passwords = [derived_password("r3dis-secret-x", "redis", "cache", "users"), derived_password("mq-secret-x", "rabbitmq", "mq", "users")]
        assert not [p for p in revealed_passwords if p in out]
    revealed = json.loads(printed(capsys, "--service", "users", "--format", "json", "--reveal"))
    assert revealed["USERS_POSTGRES_PASSWORD"] == PASSWORD and revealed == dict(sorted(revealed.items()))


def test_env_print_masks_a_secret_that_quoting_would_escape(project, capsys):
    (project / "app.env").write_text("FROM_FILE=plain\n")
    write(project, odd_stack())
    for fmt in ("dotenv", "json", "shell"):
        out = printed(capsys, "--service", "api", "--format", fmt)
        assert "rd %#" not in out and "rd%20" not in out, out  # the secret, in no escaped or encoded form


def odd_stack() -> str:
    quoted = ODD.replace("'", "''")
    return f"""
        components:
          db: {{kind: postgres, password: '{quoted}'}}
          cache: {{kind: redis, password: '{quoted}x'}}
        services:
          api:
            command: python3 api.py
            port: 8000
            env_file: app.env
            depends_on: [db, cache]
            env:
              TRICKY: 'a ''b'' "c" \\d $$HOME #e'
              MULTI: "line 1\\nline 2"
              EMPTY: ''
        """


def test_every_format_reads_back_identically(project, capsys):
    (project / "app.env").write_text("FROM_FILE=plain\n")
    write(project, odd_stack())
    expected = json.loads(printed(capsys, "--service", "api", "--format", "json", "--reveal"))
    assert expected["TRICKY"] == "a 'b' \"c\" \\d $HOME #e" and expected["MULTI"] == "line 1\nline 2"
    assert expected["DB_PASSWORD"] == ODD and expected["FROM_FILE"] == "plain" and expected["EMPTY"] == ""
    dotenv_file = project / "out.env"
    dotenv_file.write_text(printed(capsys, "--service", "api", "--reveal"))
    assert dotenv_values(dotenv_file) == expected
    shell_file = project / "out.sh"
    shell_file.write_text(printed(capsys, "--service", "api", "--format", "shell", "--reveal"))
    script = f"source {shell_file}; printf '%s\\0' " + " ".join(f'"${key}"' for key in expected)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10, check=True, env={})
    assert dict(zip(expected, done.stdout.split("\0")[:-1])) == expected


def test_env_print_is_what_config_shows(project, capsys):
    write(project, STACK)
    assert main(["config", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["services"]["users"]["env"]
    assert json.loads(printed(capsys, "--service", "users", "--format", "json")) == shown


def test_env_print_uses_the_ports_of_the_last_up(project, capsys):
    write(project, STACK)
    state = project / ".local" / "state" / "dev"
    state.mkdir(parents=True)
    (state / "ports.json").write_text(json.dumps({"db": {"main": {"configured": 5432, "chosen": 5433}},
                                                  "users": {"main": {"configured": 8001, "chosen": 8011}}}))
    env = json.loads(printed(capsys, "--service", "users", "--format", "json"))
    assert (env["USERS_POSTGRES_PORT"], env["USERS_JDBC_URL"], env["PORT"]) == (
        "5433", "jdbc:postgresql://127.0.0.1:5433/shop?currentSchema=users", "8011")


@pytest.mark.parametrize(("service", "message"), [
    ("user", "env print: unknown service 'user'; did you mean 'users'?"),
    ("db", "env print: 'db' is a component (postgres), not a service (its connection details are in the env of the services that use it)"),
])
def test_env_print_names_a_service(project, capsys, service, message):
    write(project, STACK)
    assert main(["env", "print", "--service", service]) == 1
    captured = capsys.readouterr()
    assert (captured.err, captured.out) == (f"stapel: error: {message}\n", "")


def test_env_print_without_services(project, capsys):
    write(project, "components:\n  cache:\n    kind: redis\n")
    assert main(["env", "print", "--service", "api"]) == 1
    assert capsys.readouterr().err == "stapel: error: env print: unknown service 'api'; the stack has no services\n"


# --- shared brokers: each service its own user (issue 13 item 7) ---------------------------------------------


def test_an_unknown_handed_user_is_one_error_line(project, capsys):
    write(project, STACK.replace("      mq: {}", "      mq: {user: nobody}"))
    assert main(["env", "print", "--service", "users"]) == 1
    assert capsys.readouterr().err == ("stapel: error: services.users.uses.mq.user: no user 'nobody' on mq (declare it under "
                                       "components.mq.users, name it in a *_RABBITMQ_URL, or give 'app' (mq's own user))\n")


def test_a_service_named_like_the_brokers_administrator_must_choose(project, capsys):
    write(project, STACK + "  app:\n    command: python3 app.py\n    depends_on: [mq]\n")
    assert main(["env", "print", "--service", "app"]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(r"stapel: error: stapel\.yaml:\d+: services\.app: its own user on mq would be named 'app', which is "
                        r"mq's administrator; set services\.app\.uses\.mq\.user\n", err), err


def test_opting_out_and_handing_over(project):
    text = STACK.replace("      mq: {}", "      mq: {user: app}").replace("      cache: {db: 2}", "      cache: {db: 2, user: default}")
    env = env_of(project, "users", text)
    assert (env["USERS_RABBITMQ_USER"], env["USERS_RABBITMQ_PASSWORD"]) == ("app", "mq-secret-x")  # the administrator, asked for
    assert env["USERS_REDIS_URL"] == "redis://:r3dis-secret-x@127.0.0.1:6379/2" and "USERS_REDIS_USER" not in env
    declared = STACK.replace("    vhost: /\n", "    vhost: /\n    users: {users: {password: own-pw-123456, permissions: [/]}}\n")
    assert env_of(project, "users", declared)["USERS_RABBITMQ_PASSWORD"] == "own-pw-123456"  # a declared user of its name wins


def test_least_privilege_permissions_leave_out_what_other_services_own(project):
    from stapel.components.rabbitmq_users import own_permission

    rule = own_permission(["b", "orders-api"])
    assert rule.configure == rule.write == rule.read == r"^(?!(b|orders\-api)(\.|$)).*"
    mine = [name for name in ("a.jobs", "b.jobs", "b", "bee.jobs", "orders-api.x", "orders.x", "shared.events", "amq.default")
            if re.match(rule.read, name)]
    assert mine == ["a.jobs", "bee.jobs", "orders.x", "shared.events", "amq.default"]
    assert own_permission([]).read == ".*"
