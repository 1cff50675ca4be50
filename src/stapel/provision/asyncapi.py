"""AsyncAPI 2.x and 3.x documents with AMQP channel bindings -> the RabbitMQ topology (stapel.model.topology).

Seed 004 keeps the RabbitMQ contract in `api/server/asyncapi.yaml`; `components.<mq>.asyncapi` lists such
files and `stapel provision` declares what they describe. The mapping, per channel:

- the channel's *address* is its key in 2.x, its `address` in 3.x (the channel id when the address is
  null); `{parameter}` placeholders become `*` (a topic wildcard) where it is used as a routing key.
  Channels may be `$ref`s into the same document (`#/components/channels/...`); operations declare nothing,
  but every `$ref` in them (3.x: `channel`, `messages`) must point at something in the document.
- `bindings.amqp.exchange` (`name`, `type`, `durable`, `autoDelete`, `vhost`) with a `type` declares
  the exchange (type `default` means the default exchange: nothing to declare); without a `type` it
  only names one, which must be declared elsewhere (this or another document, or stapel.yaml):
  otherwise it is an error naming it. Names starting with `amq.` are RabbitMQ's own.
- `bindings.amqp.queue` (`name`, `durable`, `autoDelete`, `vhost`) declares the queue; its name defaults
  to the address when `is: queue`. `exclusive: true` queues belong to a consumer's connection and are
  left to it, and so are queues only the client can name: a parameterised name (`{queue}`), RabbitMQ's own
  `amq.*` names (direct reply-to, server-named); an exchange with a parameterised name likewise.
- what is skipped is never silent: `Document.skipped` names each channel and why (a channel without an AMQP
  binding declares nothing either), and `stapel provision` says it (in `up`, the provision step's log).
- when a channel has both, the queue is bound to the exchange with the routing key `x-routing-key` (on
  the amqp binding) or else the address.
- `vhost` defaults to the document's top-level `x-vhost`, else `/`. Durable defaults to true.
- extensions for what the bindings cannot express, on the queue object: `x-message-ttl` (ms),
  `x-max-length`, `x-dead-letter` (true, or {exchange, queue}: see stapel.yaml's `dead_letter`),
  `x-arguments` (other queue arguments, e.g. x-queue-type), `x-bindings` (a list of
  {exchange, routing_key, arguments}: further bindings of the queue); on the exchange object:
  `x-internal`, `x-arguments`. Unknown `x-` keys there are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stapel.errors import ConfigError
from stapel.model.schema import did_you_mean
from stapel.model.topology import RESERVED, VHost
from stapel.model.yamlfile import ConfigPath, Located, dotted, load_yaml

QUEUE_EXTENSIONS = ("x-message-ttl", "x-max-length", "x-dead-letter", "x-arguments", "x-bindings")
EXCHANGE_EXTENSIONS = ("x-internal", "x-arguments")


@dataclass
class Reference:
    """An exchange a channel names without declaring it."""

    vhost: str
    exchange: str
    where: str  # file:line: config path


@dataclass
class Document:
    shown: str
    vhosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # raw VHost data, validated by topology()
    references: list[Reference] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "file: channel X: queue '{q}' ...: why"
    where: dict[tuple[str, ...], str] = field(default_factory=dict)  # (vhost, kind, name) -> file:line: path

    def vhost(self, name: str) -> dict[str, Any]:
        return self.vhosts.setdefault(name, {"exchanges": {}, "queues": {}, "bindings": []})

    def topology(self) -> dict[str, VHost]:
        from pydantic import ValidationError

        result = {}
        for name, data in self.vhosts.items():
            try:
                result[name] = VHost.model_validate(data)
            except ValidationError as exc:
                error = exc.errors(include_url=False)[0]
                loc = tuple(str(part) for part in error["loc"])
                where = self.where.get(tuple([name, *loc[:2]]), self.shown)
                raise ConfigError(f"{where}: {'.'.join(loc[2:]) or loc[-1]}: {error['msg']}") from None
        return result


def load(path: Path, shown: str) -> Document:
    """Read one document; `shown` is how errors name the file (relative to the project)."""
    located = _read(path, shown)
    data = located.data
    version = str(data.get("asyncapi", "")) if isinstance(data, dict) else ""
    if not re.match(r"^[23]\.", version):
        raise ConfigError(f"{shown}:1: expected an AsyncAPI 2.x or 3.x document (asyncapi: 2.6.0 or 3.0.0), got '{version or '-'}'")
    channels = data.get("channels") or {}
    if not isinstance(channels, dict):
        raise ConfigError(f"{shown}:{located.line_of(('channels',))}: channels: expected a mapping")
    loader = _Loader(located, shown, str(data.get("x-vhost") or "/"), Document(shown))
    for key, channel in channels.items():
        resolved, path_of = loader.deref(channel, ("channels", key))
        address = key if version.startswith("2.") else (resolved.get("address") or key)
        amqp = ((resolved.get("bindings") or {}).get("amqp")) or {}
        amqp, amqp_path = loader.deref(amqp, path_of + ("bindings", "amqp"))
        label = f"{shown}: channel {key}" + (f" ({address})" if str(address) != str(key) else "")
        if not amqp:
            loader.doc.skipped.append(f"{label}: no AMQP binding (bindings.amqp), nothing to declare")
            continue
        for why in loader.channel(str(address), amqp, amqp_path):
            loader.doc.skipped.append(f"{label}: {why}")
    loader.check_operations(data.get("operations"))
    return loader.doc


def _read(path: Path, shown: str) -> Located:
    if not path.is_file():
        raise ConfigError(f"{shown}: no such AsyncAPI document", hint="fix the path under components.<mq>.asyncapi")
    try:
        return load_yaml(path)
    except ConfigError as exc:  # malformed YAML: name the file as the project knows it
        raise ConfigError(exc.message.replace(path.name, shown, 1), hint=exc.hint) from None


@dataclass
class _Loader:
    located: Located
    shown: str
    default_vhost: str
    doc: Document

    def at(self, path: ConfigPath) -> str:
        return f"{self.shown}:{self.located.line_of(path)}: {dotted(path)}"

    def deref(self, value: Any, path: ConfigPath) -> tuple[dict[str, Any], ConfigPath]:
        """Follow a local `$ref` (#/a/b), as often as it takes."""
        seen = 0
        while isinstance(value, dict) and "$ref" in value:
            ref = str(value["$ref"])
            if not ref.startswith("#/") or seen > 20:
                raise ConfigError(f"{self.at(path)}: only local $refs (#/...) are followed, got '{ref}'")
            target = tuple(part.replace("~1", "/").replace("~0", "~") for part in ref[2:].split("/"))
            value, seen = self._lookup(target, ref, path), seen + 1
            path = target
        if not isinstance(value, dict):
            raise ConfigError(f"{self.at(path)}: expected a mapping")
        return value, path

    def _lookup(self, target: ConfigPath, ref: str, origin: ConfigPath) -> Any:
        value: Any = self.located.data
        for part in target:
            if not isinstance(value, dict) or part not in value:
                raise ConfigError(f"{self.at(origin)}: $ref '{ref}' points nowhere in the document")
            value = value[part]
        return value

    def check_operations(self, operations: Any) -> None:
        """Operations declare nothing, but a `$ref` in them that points nowhere is a broken contract."""
        if operations is None:
            return
        if not isinstance(operations, dict):
            raise ConfigError(f"{self.at(('operations',))}: expected a mapping")
        for name, operation in operations.items():
            path = ("operations", name)
            if not isinstance(operation, dict):
                raise ConfigError(f"{self.at(path)}: expected a mapping")
            if "channel" in operation:
                self.deref(operation["channel"], path + ("channel",))
            for i, message in enumerate(operation.get("messages") or []):
                if isinstance(message, dict) and "$ref" in message:
                    self._follow(message, path + ("messages", i))

    def _follow(self, value: dict[str, Any], path: ConfigPath) -> None:
        ref = str(value["$ref"])
        if not ref.startswith("#/"):
            raise ConfigError(f"{self.at(path)}: only local $refs (#/...) are followed, got '{ref}'")
        self._lookup(tuple(p.replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")), ref, path)

    def channel(self, address: str, amqp: dict[str, Any], path: ConfigPath) -> list[str]:
        """Declare what the channel's AMQP binding describes; returns why parts of it were left to the client."""
        kind = amqp.get("is", "routingKey")
        if kind not in ("routingKey", "queue"):
            raise ConfigError(f"{self.at(path + ('is',))}: expected routingKey or queue, got '{kind}'")
        skipped: list[str] = []
        exchange = self.exchange(amqp["exchange"], path + ("exchange",), skipped) if amqp.get("exchange") else None
        queue = None
        if amqp.get("queue"):
            queue = self.queue(amqp["queue"], path + ("queue",), address if kind == "queue" else None, skipped)
        elif kind == "queue":
            skipped.append("is: queue without a queue object (bindings.amqp.queue), no queue declared")
        if exchange and queue and exchange[1] and queue[1]:
            if exchange[0] != queue[0]:
                raise ConfigError(f"{self.at(path)}: the exchange is in vhost {exchange[0]}, the queue in {queue[0]}; "
                                  f"a binding needs both in one vhost")
            key = str(amqp.get("x-routing-key", _as_routing_key(address)))
            self.doc.vhost(queue[0])["bindings"].append({"exchange": exchange[1], "queue": queue[1], "routing_key": key})
        return skipped

    def exchange(self, spec: Any, path: ConfigPath, skipped: list[str]) -> tuple[str, str]:
        spec, path = self.deref(spec, path)
        self._extensions(spec, path, EXCHANGE_EXTENSIONS)
        vhost, name, kind = str(spec.get("vhost") or self.default_vhost), str(spec.get("name") or ""), spec.get("type")
        if kind == "default" or name == "" or name.startswith(RESERVED):
            return vhost, ""
        if _PARAMETER.search(name):
            skipped.append(f"exchange '{name}' is parameterised: its name is known only at run time, the client declares it")
            return vhost, ""
        if kind is None:
            self.doc.references.append(Reference(vhost, name, self.at(path + ("name",))))
            return vhost, name
        data = {"type": kind, "durable": spec.get("durable", True), "auto_delete": spec.get("autoDelete", False),
                "internal": spec.get("x-internal", False), "arguments": spec.get("x-arguments", {})}
        self._declare(vhost, "exchanges", name, data, path)
        return vhost, name

    def queue(self, spec: Any, path: ConfigPath, default_name: str | None, skipped: list[str]) -> tuple[str, str]:
        spec, path = self.deref(spec, path)
        self._extensions(spec, path, QUEUE_EXTENSIONS)
        vhost, name = str(spec.get("vhost") or self.default_vhost), str(spec.get("name") or default_name or "")
        why = self._left_to_client(name, spec)
        if why:
            skipped.append(why)
            return vhost, ""
        if not name:
            raise ConfigError(f"{self.at(path)}: the queue needs a name")
        data = {"durable": spec.get("durable", True), "auto_delete": spec.get("autoDelete", False),
                "message_ttl": spec.get("x-message-ttl"), "max_length": spec.get("x-max-length"),
                "dead_letter": spec.get("x-dead-letter", False), "arguments": spec.get("x-arguments", {})}
        self._declare(vhost, "queues", name, data, path)
        for i, extra in enumerate(spec.get("x-bindings") or []):
            where = self.at(path + ("x-bindings", i))
            if not isinstance(extra, dict) or not extra.get("exchange"):
                raise ConfigError(f"{where}: expected {{exchange, routing_key}}")
            self.doc.vhost(vhost)["bindings"].append({"queue": name, **extra})
            if not str(extra["exchange"]).startswith(RESERVED):
                self.doc.references.append(Reference(vhost, str(extra["exchange"]), where))
        return vhost, name

    @staticmethod
    def _left_to_client(name: str, spec: dict[str, Any]) -> str | None:
        """Why a queue is the client's to declare (a reply queue, a per-consumer one), or None."""
        if spec.get("exclusive"):
            shown = f"queue {name}" if name else "a server-named queue"
            return f"{shown} is exclusive: it belongs to the consumer's connection, which declares it (a reply queue)"
        if name.startswith(RESERVED):
            return f"queue {name} is RabbitMQ's own (amq.*: direct reply-to or server-named), the client uses it as it is"
        if _PARAMETER.search(name):
            return f"queue '{name}' is parameterised: its name is known only at run time, the client declares it"
        return None

    def _declare(self, vhost: str, kind: str, name: str, data: dict[str, Any], path: ConfigPath) -> None:
        known = self.doc.vhost(vhost)[kind]
        if name in known and known[name] != data:
            raise ConfigError(f"{self.at(path)}: {kind[:-1]} {name} is declared differently by another channel; declare it once")
        known[name] = data
        self.doc.where[(vhost, kind, name)] = self.at(path)

    def _extensions(self, spec: dict[str, Any], path: ConfigPath, allowed: tuple[str, ...]) -> None:
        for key in spec:
            if str(key).startswith("x-") and key not in allowed:
                raise ConfigError(f"{self.at(path + (key,))}: unknown extension '{key}'{did_you_mean(key, allowed)}")


_PARAMETER = re.compile(r"\{[^}]*\}")


def _as_routing_key(address: str) -> str:
    return _PARAMETER.sub("*", address)
