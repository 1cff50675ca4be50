"""The bus's contract: the channels of the service's AsyncAPI file (2.x or 3.x, AMQP bindings), the same file
`stapel provision` declares the topology from. Per channel: where a publish goes (exchange and routing key), the
queue a consumer reads, that queue's dead-letter exchange and queue (`x-dead-letter`, as stapel provisions it:
`<queue>.dlx` -> `<queue>.dlq`, bound with the queue's name), and the message names it carries (none listed:
any).

A channel is named by its id (the key under `channels`) or its address."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Channel", "Contract", "ContractError", "UnknownChannel"]

_PARAMETER = re.compile(r"\{([^}]*)\}")


class ContractError(ValueError):
    """The AsyncAPI file cannot be used, or a call does not match it; the message names the file or channel."""


class UnknownChannel(ContractError, LookupError):
    """A publish or consume on a channel the contract does not have."""


@dataclass(frozen=True)
class Channel:
    id: str
    address: str
    exchange: str                    # "" = the default exchange
    routing_key: str                 # may hold {parameters}
    queue: str | None
    dead_letter: tuple[str, str] | None  # (exchange, queue)
    messages: frozenset[str]         # allowed message types; empty = any

    def key(self, params: dict[str, Any] | None) -> str:
        """The routing key with its {parameters} filled."""
        names = _PARAMETER.findall(self.routing_key)
        if not names:
            return self.routing_key
        missing = [n for n in names if not params or n not in params]
        if missing:
            raise ContractError(f"channel {self.id}: the routing key {self.routing_key!r} needs params "
                                f"{', '.join(missing)}")
        return _PARAMETER.sub(lambda m: str(params[m.group(1)]), self.routing_key)  # type: ignore[index]


class Contract:
    def __init__(self, channels: dict[str, Channel], source: str = "") -> None:
        self.channels, self.source = channels, source
        self._by_address = {c.address: c for c in channels.values()}

    @classmethod
    def load(cls, path: str | Path) -> Contract:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ContractError(f"{path}: cannot read the AsyncAPI file ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ContractError(f"{path}: malformed YAML ({str(exc).splitlines()[0]})") from None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: Any, source: str = "asyncapi") -> Contract:
        version = str(data.get("asyncapi", "")) if isinstance(data, dict) else ""
        if not re.match(r"^[23]\.", version):
            raise ContractError(f"{source}: expected an AsyncAPI 2.x or 3.x document, got asyncapi: {version or '-'}")
        reader = _Reader(data, source)
        channels = {}
        for key, raw in (data.get("channels") or {}).items():
            channel = reader.deref(raw, f"channels.{key}")
            address = str(key if version.startswith("2.") else (channel.get("address") or key))
            found = reader.channel(str(key), address, channel, version)
            if found is not None:
                channels[str(key)] = found
        return cls(channels, source)

    def channel(self, name: str) -> Channel:
        found = self.channels.get(name) or self._by_address.get(name)
        if found is None:
            known = ", ".join(sorted(self.channels)) or "none"
            raise UnknownChannel(f"channel {name!r} is not in the contract {self.source} (channels: {known})")
        return found


class _Reader:
    def __init__(self, data: dict, source: str) -> None:
        self.data, self.source = data, source

    def deref(self, value: Any, where: str) -> dict:
        for _ in range(20):
            if not (isinstance(value, dict) and "$ref" in value):
                break
            ref = str(value["$ref"])
            if not ref.startswith("#/"):
                raise ContractError(f"{self.source}: {where}: only local $refs are followed, got {ref!r}")
            value = self.data
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(value, dict) or part not in value:
                    raise ContractError(f"{self.source}: {where}: $ref {ref!r} points nowhere")
                value = value[part]
        if not isinstance(value, dict):
            raise ContractError(f"{self.source}: {where}: expected a mapping")
        return value

    def channel(self, key: str, address: str, channel: dict, version: str) -> Channel | None:
        amqp = self.deref(((channel.get("bindings") or {}).get("amqp")) or {}, f"channels.{key}.bindings.amqp")
        if not amqp:
            return None
        kind = amqp.get("is", "routingKey")
        exchange = self.deref(amqp["exchange"], f"channels.{key}.exchange") if amqp.get("exchange") else {}
        queue_spec = self.deref(amqp["queue"], f"channels.{key}.queue") if amqp.get("queue") else {}
        queue = str(queue_spec.get("name") or (address if kind == "queue" else "")) or None
        dead = queue_spec.get("x-dead-letter", False)
        dead_letter = None
        if queue and dead:
            given = dead if isinstance(dead, dict) else {}
            dead_letter = (str(given.get("exchange") or f"{queue}.dlx"), str(given.get("queue") or f"{queue}.dlq"))
        name = "" if exchange.get("type") == "default" else str(exchange.get("name") or "")
        if name:
            routing_key = str(amqp.get("x-routing-key", address))
        else:
            routing_key = queue or address
        return Channel(key, address, name, routing_key, queue, dead_letter, self.messages(key, channel, version))

    def messages(self, key: str, channel: dict, version: str) -> frozenset[str]:
        found: list[Any] = []
        if version.startswith("3."):
            for mkey, raw in (channel.get("messages") or {}).items():
                message = self.deref(raw, f"channels.{key}.messages.{mkey}")
                found.append(message.get("name") or mkey)
        else:
            for op in ("publish", "subscribe"):
                given = (channel.get(op) or {}).get("message")
                if given is None:
                    continue
                message = self.deref(given, f"channels.{key}.{op}.message")
                for one in message.get("oneOf") or [message]:
                    one = self.deref(one, f"channels.{key}.{op}.message")
                    if one.get("name"):
                        found.append(one["name"])
        return frozenset(str(m) for m in found)
