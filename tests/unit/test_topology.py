"""RabbitMQ topology: the model, DLQ expansion, users from *_RABBITMQ_URL, AsyncAPI 2.x/3.x, drift on fake broker state."""

from __future__ import annotations

import base64
import hashlib
import textwrap
from pathlib import Path

import pytest

from stapel.engine.stack import open_stack
from stapel.errors import ConfigError, StapelError
from stapel.model.topology import DeadLetter, Queue, VHost, expand, local_broker_urls, users_from_urls
from stapel.provision import asyncapi, rabbitmq
from stapel.provision.rabbitmq_api import password_matches

ASYNCAPI_3 = """\
asyncapi: 3.0.0
info: {title: users service, version: 1.4.0, description: "seed 004: the RabbitMQ contract of the users service"}
x-vhost: crm
channels:
  userSignedUp:
    address: user.signed_up
    messages:
      userSignedUp: {$ref: '#/components/messages/UserSignedUp'}
    bindings:
      amqp:
        is: routingKey
        exchange: {name: users.events, type: topic, durable: true, autoDelete: false}
        bindingVersion: 0.3.0
  userNotifications:
    $ref: '#/components/channels/userNotifications'
operations:
  publishSignedUp: {action: send, channel: {$ref: '#/channels/userSignedUp'}}
components:
  channels:
    userNotifications:
      address: notifications.user.{userId}
      bindings:
        amqp:
          is: routingKey
          exchange: {name: users.events}
          queue:
            name: notifications.users
            durable: true
            exclusive: false
            x-message-ttl: 60000
            x-dead-letter: true
            x-arguments: {x-queue-type: classic}
  messages:
    UserSignedUp:
      payload: {type: object, properties: {id: {type: string, format: uuid}}}
"""

ASYNCAPI_2 = """\
asyncapi: 2.6.0
info: {title: executions, version: 1.0.0}
channels:
  schema_execution_queue:
    subscribe: {message: {payload: {type: object}}}
    bindings:
      amqp:
        is: queue
        exchange: {name: executions, type: direct, durable: true, vhost: /}
        queue:
          name: schema_execution_queue
          durable: true
          vhost: /
          x-dead-letter: {queue: schema_execution_dlq}
          x-bindings: [{exchange: amq.topic, routing_key: executions.#}]
  execution.finished:
    publish: {message: {payload: {type: object}}}
    bindings:
      amqp: {is: routingKey, exchange: {name: execution.events, type: fanout}}
"""


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def stack_of(root: Path, mq: str, env: dict[str, str] | None = None):
    write(root, "stapel.yaml", "components:\n  mq:\n    kind: rabbitmq\n    user: admin\n    password: admin-pw-1\n"
          + textwrap.indent(textwrap.dedent(mq).lstrip("\n"), "    "))
    return open_stack(root / "stapel.yaml", env=env or {})


def test_the_model_reads_vhosts_users_and_shorthands(tmp_path):
    stack = stack_of(tmp_path, """
        vhosts:
          crm:
            exchanges: {crm.events: {type: topic}}
            queues: {crm.tasks: {message_ttl: 60000, max_length: 10000, dead_letter: true, arguments: {x-queue-type: classic}}}
            bindings: [{exchange: crm.events, queue: crm.tasks, routing_key: "task.*"}]
          billing: null
        users:
          crm: {password: "${CRM_MQ_PASSWORD}", tags: [management], permissions: [crm]}
        """, env={"CRM_MQ_PASSWORD": "crm-secret-1"})
    config = stack.nodes["mq"].config
    assert set(config.vhosts) == {"crm", "billing"} and config.users_from_env is True
    assert config.users["crm"].password == "crm-secret-1"
    assert config.users["crm"].permissions["crm"].model_dump() == {"configure": ".*", "write": ".*", "read": ".*"}
    assert config.vhosts["crm"].queues["crm.tasks"].effective_arguments("crm.tasks") == {
        "x-queue-type": "classic", "x-message-ttl": 60000, "x-max-length": 10000,
        "x-dead-letter-exchange": "crm.tasks.dlx", "x-dead-letter-routing-key": "crm.tasks"}


def test_bad_topology_is_a_config_error_naming_the_path(tmp_path):
    with pytest.raises(ConfigError) as info:
        stack_of(tmp_path, """
            vhosts:
              crm:
                exchanges: {amq.mine: {type: topic}}
                queues: {q: {ttl: 5, message_ttl: 1, arguments: {x-message-ttl: 2}}}
            """)
    text = "\n".join(info.value.lines())
    assert "components.mq.vhosts.crm.exchanges: names starting with 'amq.' are reserved by RabbitMQ" in text
    assert "components.mq.vhosts.crm.queues.q.ttl: unknown key 'ttl'" in text


def test_a_queue_cannot_give_an_argument_twice():
    with pytest.raises(ValueError, match="arguments.x-message-ttl repeats a field of the queue"):
        Queue(message_ttl=1, arguments={"x-message-ttl": 2})


def test_dead_letter_true_expands_to_a_dlx_a_dlq_and_a_binding():
    vhost = expand(VHost(queues={"jobs": Queue(dead_letter=True), "mail": Queue(dead_letter=DeadLetter(exchange="dlx", queue="mail.dead"))}))
    assert {n: e.type for n, e in vhost.exchanges.items()} == {"jobs.dlx": "direct", "dlx": "direct"}
    assert set(vhost.queues) == {"jobs", "mail", "jobs.dlq", "mail.dead"}
    assert [(b.exchange, b.queue, b.routing_key) for b in vhost.bindings] == [("jobs.dlx", "jobs.dlq", "jobs"), ("dlx", "mail.dead", "mail")]
    assert vhost.queues["mail"].effective_arguments("mail") == {"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "mail"}


def test_users_and_vhosts_come_from_rabbitmq_urls_pointing_at_this_broker():
    env = {"CRM_RABBITMQ_URL": "amqp://crm:crm%40pw@localhost:5672/crm", "AUDIT_RABBITMQ_URL": "amqp://audit:a-pw@127.0.0.1/",
           "TASKS_RABBITMQ_URL": "amqp://crm:crm%40pw@mq:5673/tasks", "OTHER_RABBITMQ_URL": "amqp://x:y@broker.example:5672/x",
           "FAR_RABBITMQ_URL": "amqp://z:y@localhost:5999/x", "RABBITMQ_URL_FILE": "amqp://q:q@localhost/"}
    urls = local_broker_urls(env, {5672, 5673}, "mq")
    assert sorted(urls) == ["AUDIT_RABBITMQ_URL", "CRM_RABBITMQ_URL", "TASKS_RABBITMQ_URL"]
    users, problems = users_from_urls(urls)
    assert problems == []
    assert users["crm"].password == "crm@pw" and sorted(users["crm"].permissions) == ["crm", "tasks"]
    assert list(users["audit"].permissions) == ["/"]
    _, problems = users_from_urls({"A_RABBITMQ_URL": "amqp://u:one@localhost/a", "B_RABBITMQ_URL": "amqp://u:two@localhost/b"})
    assert problems == ["B_RABBITMQ_URL: user u has another password in A_RABBITMQ_URL; use one password per user"]


def test_declared_merges_stapel_yaml_env_urls_and_asyncapi(tmp_path):
    write(tmp_path, "api/server/asyncapi.yaml", ASYNCAPI_3)
    stack = stack_of(tmp_path, """
        vhosts:
          crm: {queues: {audit.users: {}}, bindings: [{exchange: users.events, queue: audit.users, routing_key: "user.#"}]}
        asyncapi: api/server/asyncapi.yaml
        """, env={"NOTIFY_RABBITMQ_URL": "amqp://notify:n-pw-123@localhost:5672/crm", "ADMIN_RABBITMQ_URL": "amqp://admin:admin-pw-1@localhost/"})
    top = rabbitmq.declared(stack, stack.nodes["mq"])
    crm = top.vhosts["crm"]
    assert set(crm.exchanges) == {"users.events", "notifications.users.dlx"}
    assert set(crm.queues) == {"audit.users", "notifications.users", "notifications.users.dlq"}
    assert {(b.exchange, b.queue, b.routing_key) for b in crm.bindings} == {
        ("users.events", "audit.users", "user.#"), ("users.events", "notifications.users", "notifications.user.*"),
        ("notifications.users.dlx", "notifications.users.dlq", "notifications.users")}
    assert list(top.users) == ["notify"]  # the component's own user is not redeclared


def test_asyncapi_2_maps_queue_channels_and_extensions(tmp_path):
    write(tmp_path, "asyncapi.yaml", ASYNCAPI_2)
    stack = stack_of(tmp_path, "asyncapi: [asyncapi.yaml]\n")
    root = rabbitmq.declared(stack, stack.nodes["mq"]).vhosts["/"]
    assert {n: e.type for n, e in root.exchanges.items()} == {"executions": "direct", "execution.events": "fanout",
                                                               "schema_execution_queue.dlx": "direct"}
    assert set(root.queues) == {"schema_execution_queue", "schema_execution_dlq"}
    assert {(b.exchange, b.queue, b.routing_key) for b in root.bindings} == {
        ("executions", "schema_execution_queue", "schema_execution_queue"), ("amq.topic", "schema_execution_queue", "executions.#"),
        ("schema_execution_queue.dlx", "schema_execution_dlq", "schema_execution_queue")}


def test_asyncapi_that_is_not_yaml_names_the_file_and_line(tmp_path):
    write(tmp_path, "api/server/asyncapi.yaml", "asyncapi: 3.0.0\nchannels:\n  a: {address: x\n  b: 1\n")
    stack = stack_of(tmp_path, "asyncapi: [api/server/asyncapi.yaml]\n")
    with pytest.raises(ConfigError) as info:
        rabbitmq.declared(stack, stack.nodes["mq"])
    assert info.value.message.startswith("api/server/asyncapi.yaml:4: malformed YAML")


def test_asyncapi_naming_an_unknown_exchange_is_an_error_naming_it(tmp_path):
    write(tmp_path, "api/server/asyncapi.yaml", ASYNCAPI_3.replace("exchange: {name: users.events}", "exchange: {name: user.events}"))
    stack = stack_of(tmp_path, "asyncapi: [api/server/asyncapi.yaml]\n")
    with pytest.raises(ConfigError) as info:
        rabbitmq.declared(stack, stack.nodes["mq"])
    assert info.value.message == (
        "api/server/asyncapi.yaml:25: components.channels.userNotifications.bindings.amqp.exchange.name: unknown exchange "
        "'user.events' in vhost crm (declare it with a type in the document, or under components.mq.vhosts)")


@pytest.mark.parametrize(("text", "expected"), [
    ("asyncapi: 1.2.0\n", "doc.yaml:1: expected an AsyncAPI 2.x or 3.x document (asyncapi: 2.6.0 or 3.0.0), got '1.2.0'"),
    ("asyncapi: 3.0.0\nchannels:\n  a:\n    bindings:\n      amqp:\n        queue: {name: q, x-dead-leter: true}\n",
     "doc.yaml:6: channels.a.bindings.amqp.queue.x-dead-leter: unknown extension 'x-dead-leter'; did you mean 'x-dead-letter'?"),
    ("asyncapi: 2.0.0\nchannels:\n  a:\n    bindings:\n      amqp:\n        is: queue\n        queue: {x-message-ttl: soon}\n",
     "doc.yaml:7: channels.a.bindings.amqp.queue: message_ttl: Input should be a valid integer, unable to parse string as an integer"),
])
def test_bad_asyncapi_documents(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        asyncapi.load(write(tmp_path, "doc.yaml", text), "doc.yaml").topology()
    assert info.value.message == expected


def test_references_that_cannot_work_are_reported_by_config_path(tmp_path):
    stack = stack_of(tmp_path, """
        vhosts:
          crm: {bindings: [{exchange: nope, queue: q}]}
        users:
          admin: {password: x-12345678}
          app: {password: y-12345678, permissions: [shop]}
        """)
    with pytest.raises(ConfigError) as info:
        rabbitmq.declared(stack, stack.nodes["mq"])
    assert info.value.lines() == [
        "components.mq.vhosts.crm.bindings[0].exchange: unknown exchange 'nope' (declare it under components.mq.vhosts.crm.exchanges)",
        "components.mq.vhosts.crm.bindings[0].queue: unknown queue 'q' (declare it under components.mq.vhosts.crm.queues)",
        "components.mq.users.admin: that is the component's own user (components.mq.user); give services their own",
        "components.mq.users.app.permissions.shop: unknown vhost 'shop' (declare it under components.mq.vhosts)",
    ]


def rabbit_hash(password: str, salt: bytes = b"salt") -> str:
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def test_password_matches_rabbitmqs_salted_hash():
    assert password_matches("pw-1", rabbit_hash("pw-1"), "rabbit_password_hashing_sha256")
    assert not password_matches("pw-2", rabbit_hash("pw-1"), "rabbit_password_hashing_sha256")
    assert not password_matches("pw-1", rabbit_hash("pw-1"), "some_other_scheme")


class FakeApi:
    """A broker's /api/definitions and every write sent to it."""

    def __init__(self, definitions: dict):
        self.definitions = definitions
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str, where: str, body=None):
        if method == "GET":
            return self.definitions
        self.sent.append((method, where))
        return None


def topology(tmp_path: Path):
    stack = stack_of(tmp_path, """
        vhosts:
          crm:
            exchanges: {crm.events: {type: topic}}
            queues: {crm.tasks: {message_ttl: 60000, dead_letter: true}}
            bindings: [{exchange: crm.events, queue: crm.tasks, routing_key: "task.*"}]
        users:
          crm: {password: crm-pw-1, permissions: [crm]}
        """)
    return rabbitmq.declared(stack, stack.nodes["mq"])


def in_sync() -> dict:
    queue_args = {"x-message-ttl": 60000, "x-dead-letter-exchange": "crm.tasks.dlx", "x-dead-letter-routing-key": "crm.tasks"}
    exchange = {"vhost": "crm", "durable": True, "auto_delete": False, "internal": False, "arguments": {}}
    return {
        "vhosts": [{"name": "/"}, {"name": "crm"}],
        "users": [{"name": "admin", "password_hash": rabbit_hash("admin-pw-1"), "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"]},
                  {"name": "crm", "password_hash": rabbit_hash("crm-pw-1"), "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}],
        "permissions": [{"user": "crm", "vhost": "crm", "configure": ".*", "write": ".*", "read": ".*"}],
        "exchanges": [{"name": "crm.events", "type": "topic", **exchange}, {"name": "crm.tasks.dlx", "type": "direct", **exchange}],
        "queues": [{"name": "crm.tasks", "vhost": "crm", "durable": True, "auto_delete": False, "arguments": {**queue_args, "x-queue-type": "classic"}},
                   {"name": "crm.tasks.dlq", "vhost": "crm", "durable": True, "auto_delete": False, "arguments": {}}],
        "bindings": [{"source": "crm.events", "vhost": "crm", "destination": "crm.tasks", "destination_type": "queue", "routing_key": "task.*", "arguments": {}},
                     {"source": "crm.tasks.dlx", "vhost": "crm", "destination": "crm.tasks.dlq", "destination_type": "queue", "routing_key": "crm.tasks", "arguments": {}}],
    }


def test_an_empty_broker_gets_everything_in_order(tmp_path):
    api, said = FakeApi({"vhosts": [{"name": "/"}]}), []
    done = rabbitmq.run("mq", topology(tmp_path), api, False, said.append, own=("admin", "/"))
    assert done == said == [
        "mq: created vhost crm", "mq: created user crm", "mq: vhost crm: set the permissions of user crm",
        "mq: vhost crm: created exchange crm.events (topic)", "mq: vhost crm: created exchange crm.tasks.dlx (direct)",
        "mq: vhost crm: created queue crm.tasks", "mq: vhost crm: created queue crm.tasks.dlq",
        "mq: vhost crm: bound queue crm.tasks to exchange crm.events ('task.*')",
        "mq: vhost crm: bound queue crm.tasks.dlq to exchange crm.tasks.dlx ('crm.tasks')"]
    assert api.sent[:3] == [("PUT", "/api/vhosts/crm"), ("PUT", "/api/users/crm"), ("PUT", "/api/permissions/crm/crm")]
    assert api.sent[-1] == ("POST", "/api/bindings/crm/e/crm.tasks.dlx/q/crm.tasks.dlq")


def test_a_broker_in_sync_gets_no_write(tmp_path):
    api, said = FakeApi(in_sync()), []
    assert rabbitmq.run("mq", topology(tmp_path), api, False, said.append, own=("admin", "/")) == []
    assert api.sent == [] and said == ["mq: unchanged"]
    assert rabbitmq.run("mq", topology(tmp_path), api, True, said.append, own=("admin", "/")) == []
    assert said[-1] == "mq: no drift"


def test_check_lists_drift_and_undeclared_things_and_changes_nothing(tmp_path):
    state = in_sync()
    state["queues"] = [q for q in state["queues"] if q["name"] != "crm.tasks.dlq"] + [
        {"name": "stray", "vhost": "crm", "durable": True, "auto_delete": False, "arguments": {}}]
    state["users"][1]["password_hash"] = rabbit_hash("old-password")
    state["permissions"][0]["read"] = "^$"
    api, said = FakeApi(state), []
    drift = rabbitmq.run("mq", topology(tmp_path), api, True, said.append, own=("admin", "/"))
    assert drift == ["mq: user crm: the password differs", "mq: vhost crm: user crm has permissions .*/.*/^$, declared .*/.*/.*",
                     "mq: vhost crm: queue crm.tasks.dlq is missing"]
    assert said == drift + ["mq: undeclared vhost crm: queue stray (info)"]
    assert api.sent == []


def test_a_queue_with_other_arguments_is_explained_and_left_alone(tmp_path):
    state = in_sync()
    state["queues"][0]["arguments"]["x-message-ttl"] = 1000
    state["bindings"] = state["bindings"][1:]  # its binding is missing too, but belongs to the conflicting queue
    api, said = FakeApi(state), []
    with pytest.raises(StapelError) as info:
        rabbitmq.run("mq", topology(tmp_path), api, False, said.append, own=("admin", "/"))
    assert info.value.message == (
        "mq: vhost crm: queue crm.tasks exists with x-message-ttl=1000, declared 60000: RabbitMQ cannot change queue arguments "
        "in place; delete the queue (its messages are lost) or use a new name")
    assert api.sent == []
