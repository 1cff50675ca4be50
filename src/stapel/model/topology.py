"""RabbitMQ topology as declared in stapel.yaml (components.<mq>.vhosts / users) or an AsyncAPI document.

`expand()` turns `dead_letter: true` into what RabbitMQ needs: a direct exchange `<queue>.dlx`, a queue
`<queue>.dlq` bound to it with the queue's name as routing key, and the queue's x-dead-letter-* arguments.
`users_from_urls()` derives users and vhosts from `*_RABBITMQ_URL` values (seed 000's bootstrap).
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from stapel.model.base import Strict, _as_name_map

RESERVED = "amq."
URL_KEY = re.compile(r"(^|_)RABBITMQ_URL$")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _not_reserved(name: str) -> str:
    if name.startswith(RESERVED):
        raise PydanticCustomError("reserved", "names starting with 'amq.' are reserved by RabbitMQ", {})
    return name


class Exchange(Strict):
    type: Literal["direct", "topic", "fanout", "headers"] = "direct"
    durable: bool = True
    auto_delete: bool = False
    internal: bool = False
    arguments: dict[str, Any] = Field(default_factory=dict, description="e.g. alternate-exchange.")


class DeadLetter(Strict):
    exchange: str | None = Field(None, description="Default: <queue>.dlx (direct, durable).")
    queue: str | None = Field(None, description="Default: <queue>.dlq, bound to the exchange with the queue's name.")


class Queue(Strict):
    durable: bool = True
    auto_delete: bool = False
    message_ttl: int | None = Field(None, ge=0, description="Milliseconds (x-message-ttl); expired messages are dead-lettered.")
    max_length: int | None = Field(None, ge=0, description="x-max-length.")
    dead_letter: bool | DeadLetter = Field(False, description="true: a <queue>.dlq through a <queue>.dlx exchange.")
    arguments: dict[str, Any] = Field(default_factory=dict, description="Other x- arguments (x-queue-type, x-overflow, ...).")

    @model_validator(mode="after")
    def _once(self) -> Queue:
        twice = [key for key, given in (("x-message-ttl", self.message_ttl is not None), ("x-max-length", self.max_length is not None),
                                        ("x-dead-letter-exchange", bool(self.dead_letter))) if given and key in self.arguments]
        if twice:
            raise PydanticCustomError("twice", "arguments.{key} repeats a field of the queue; give it once", {"key": twice[0]})
        return self

    def effective_arguments(self, name: str) -> dict[str, Any]:
        """The x- arguments RabbitMQ gets: `arguments` plus message_ttl, max_length and the dead-letter route."""
        args = dict(self.arguments)
        if self.message_ttl is not None:
            args["x-message-ttl"] = self.message_ttl
        if self.max_length is not None:
            args["x-max-length"] = self.max_length
        if self.dead_letter:
            args["x-dead-letter-exchange"] = dead_letter_names(name, self.dead_letter)[0]
            args["x-dead-letter-routing-key"] = name
        return args


class Binding(Strict):
    exchange: str = Field(description="Source exchange (declared in this vhost, or amq.*).")
    queue: str = Field(description="Destination queue (declared in this vhost).")
    routing_key: str = ""
    arguments: dict[str, Any] = Field(default_factory=dict, description="For headers exchanges (x-match, ...).")


class VHost(Strict):
    exchanges: dict[str, Exchange] = Field(default_factory=dict)
    queues: dict[str, Queue] = Field(default_factory=dict)
    bindings: list[Binding] = Field(default_factory=list)

    _names = field_validator("exchanges", "queues", mode="before")(lambda cls, v: _checked_names(v))


class Permission(Strict):
    configure: str = ".*"
    write: str = ".*"
    read: str = ".*"


class MqUser(Strict):
    password: str = Field(description="Re-synced when it changes (e.g. in .env); masked in all output.")
    tags: list[str] = Field(default_factory=list, description="management, monitoring, administrator, ...")
    permissions: dict[str, Permission] = Field(default_factory=dict, description="vhost -> regexps (default .* for each).")

    _perms = field_validator("permissions", mode="before")(lambda cls, v: _as_name_map(v))


class Topology(Strict):
    """One broker's declared topology, every source merged."""

    vhosts: dict[str, VHost] = Field(default_factory=dict)
    users: dict[str, MqUser] = Field(default_factory=dict)
    skipped: list[str] = Field(default_factory=list)  # AsyncAPI channels (or parts) left to the clients, and why


def _checked_names(value: Any) -> Any:
    value = _as_name_map(value)
    if isinstance(value, dict):
        for name in value:
            _not_reserved(str(name))
    return value


def dead_letter_names(queue: str, spec: bool | DeadLetter) -> tuple[str, str]:
    given = spec if isinstance(spec, DeadLetter) else DeadLetter()
    return given.exchange or f"{queue}.dlx", given.queue or f"{queue}.dlq"


def expand(vhost: VHost) -> VHost:
    """The vhost with every dead-letter exchange, queue and binding spelled out (declared ones are kept)."""
    exchanges, queues, bindings = dict(vhost.exchanges), dict(vhost.queues), list(vhost.bindings)
    for name, queue in vhost.queues.items():
        if not queue.dead_letter:
            continue
        dlx, dlq = dead_letter_names(name, queue.dead_letter)
        exchanges.setdefault(dlx, Exchange(type="direct"))
        queues.setdefault(dlq, Queue())
        route = Binding(exchange=dlx, queue=dlq, routing_key=name)
        if route not in bindings:
            bindings.append(route)
    return VHost(exchanges=exchanges, queues=queues, bindings=bindings)


def merge(into: VHost, other: VHost, vhost: str, source: str) -> list[str]:
    """Add `other`'s objects to `into`; the same name declared differently is a problem naming `source`."""
    problems = []
    for kind in ("exchanges", "queues"):
        mine, theirs = getattr(into, kind), getattr(other, kind)
        for name, spec in theirs.items():
            if name in mine and mine[name] != spec:
                problems.append(f"{source}: vhost {vhost}: {kind[:-1]} {name} is declared differently elsewhere "
                                f"(stapel.yaml or another AsyncAPI document); declare it once")
            mine.setdefault(name, spec)
    into.bindings += [b for b in other.bindings if b not in into.bindings]
    return problems


def users_from_urls(urls: dict[str, str]) -> tuple[dict[str, MqUser], list[str]]:
    """key -> amqp://user:pass@host:port/vhost  =>  users (each with .* on its vhosts), and problems.
    The vhost is the URL's path, percent-decoded; an empty path is the default vhost '/'."""
    users: dict[str, MqUser] = {}
    origin: dict[str, str] = {}
    problems: list[str] = []
    for key, url in sorted(urls.items()):
        parts = urlsplit(url)
        if not parts.username or parts.password is None:
            continue
        user, password = unquote(parts.username), unquote(parts.password)
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        if user in users and users[user].password != password:
            problems.append(f"{key}: user {user} has another password in {origin[user]}; use one password per user")
            continue
        users.setdefault(user, MqUser(password=password))
        origin.setdefault(user, key)
        users[user].permissions.setdefault(vhost, Permission())
    return users, problems


def bad_broker_url(url: str) -> str | None:
    """What makes a `*_RABBITMQ_URL` value unusable (never quoting its password), or None."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("amqp", "amqps"):
        return f"scheme '{parts.scheme or '-'}' is not amqp or amqps"
    if not parts.hostname:
        return "no host"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        return f"port '{parts.netloc.rpartition('@')[2].rpartition(':')[2]}' is not a number from 1 to 65535"
    return None


def local_broker_urls(env: dict[str, str], ports: set[int], name: str) -> dict[str, str]:
    """The `*_RABBITMQ_URL` values that point at this broker: a local host (or the component's name, as in
    Compose) and, when the URL names a port, one of the broker's ports (configured or chosen)."""
    found = {}
    for key, url in env.items():
        if not URL_KEY.search(key) or not url.startswith(("amqp://", "amqps://")):
            continue
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            continue
        if parts.hostname in (*LOCAL_HOSTS, name) and (port is None or port in ports):
            found[key] = url
    return found
