"""Consul KV from stapel.yaml (`kv: {config/crm/db_pool: "10"}`), on every `up`.

Each declared key is read first (GET /v1/kv/<key>?raw: the value itself, 404 when missing) and written
(PUT /v1/kv/<key>, Consul answers `true`) only when missing or different, so a second run sends nothing.
Keys stapel.yaml does not declare are never read, changed or deleted: services own them. Values are never
printed (one may come from a secret in .env): the changes name keys only.
See https://developer.hashicorp.com/consul/api-docs/kv.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from stapel.provision.http_api import HttpApi, HttpRequest


def key_path(key: str) -> str:
    return "/v1/kv/" + quote(key, safe="/")


def plan_requests(config: Any) -> list[HttpRequest]:
    """The writes as data, for a one-shot in Compose/Kubernetes: a PUT per declared key (idempotent: writing a
    value that is already there changes nothing but Consul's ModifyIndex)."""
    return [HttpRequest("PUT", key_path(key), value) for key, value in sorted(config.kv.items())]


def provision(name: str, config: Any, port: int, say: Callable[[str], None]) -> list[str]:
    """Write the keys that differ; returns the changes made ("kv: created key config/crm/db_pool")."""
    api = HttpApi(name, "Consul", port)
    changes = []
    for key, value in sorted(config.kv.items()):
        status, current = api.send("GET", key_path(key) + "?raw")
        if status == 200 and current == value.encode():
            continue
        if status not in (200, 404):
            raise api.fail(f"reading key {key}", status, current)
        put_status, answer = api.send("PUT", key_path(key), value)
        if put_status != 200 or answer.strip() != b"true":
            raise api.fail(f"writing key {key}", put_status, answer)
        changes.append(f"{name}: {'created' if status == 404 else 'updated'} key {key}")
        say(changes[-1])
    return changes


# ---- the provisioner interface of provision/steps.py (components/consul.py names this module its PROVISIONER)
def wanted(stack: Any, node: Any) -> bool:
    return bool(node.config.kv)


def ensure(stack: Any, node: Any) -> list[str]:
    return []


def apply(stack: Any, node: Any, log: Callable[[str], None]) -> list[str]:
    return provision(node.name, node.config, node.port, log)
