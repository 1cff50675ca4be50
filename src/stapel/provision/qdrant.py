"""Qdrant collections from stapel.yaml (`collections: {agents: {size: 1536, distance: Cosine}}`), on every `up`.

GET /collections/<name> shows whether it exists (404 when not) and its vectors config; a missing one is created
(PUT /collections/<name> {"vectors": {"size", "distance", "on_disk"}}). A collection's vector size and distance
cannot be changed in place: a difference is reported, nothing is done to that collection (its points stay), and
the run fails after every other collection was handled, as with RabbitMQ's queue arguments. `on_disk` is applied
at creation only; a difference is said, not failed (Qdrant can move vectors with PATCH, stapel does not).
Collections stapel.yaml does not declare are never touched. See https://api.qdrant.tech/api-reference/collections.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from stapel.errors import StapelError
from stapel.provision.http_api import HttpApi, HttpRequest


def collection_path(collection: str) -> str:
    return "/collections/" + quote(collection, safe="")


def body(spec: Any) -> dict[str, Any]:
    vectors: dict[str, Any] = {"size": spec.size, "distance": spec.distance}
    if spec.on_disk is not None:
        vectors["on_disk"] = spec.on_disk
    return {"vectors": vectors}


def plan_requests(config: Any) -> list[HttpRequest]:
    """The writes as data, for a one-shot in Compose/Kubernetes: create each collection unless GET finds it."""
    return [HttpRequest("PUT", collection_path(name), body(spec), unless_found=collection_path(name))
            for name, spec in sorted(config.collections.items())]


def provision(name: str, config: Any, port: int, say: Callable[[str], None]) -> list[str]:
    """Create the missing collections; returns the changes made. Raises on collections that differ, after the rest."""
    api = HttpApi(name, "Qdrant", port, {"api-key": config.api_key} if config.api_key else None)
    changes, conflicts = [], []
    for collection, spec in sorted(config.collections.items()):
        status, reply = api.send("GET", collection_path(collection))
        if status == 404:
            put_status, answer = api.send("PUT", collection_path(collection), body(spec))
            if put_status != 200 or _json(answer).get("result") is not True:
                raise api.fail(f"creating collection {collection}", put_status, answer)
            changes.append(f"{name}: created collection {collection} (size {spec.size}, {spec.distance})")
            say(changes[-1])
        elif status == 200:
            conflict, note = compare(collection, spec, _json(reply))
            conflicts += [conflict] if conflict else []
            if note:
                say(f"{name}: {note}")
        else:
            raise api.fail(f"reading collection {collection}", status, reply)
    if conflicts:
        raise StapelError(f"components.{name}: {conflicts[0]}", problems=[f"components.{name}: {c}" for c in conflicts[1:]])
    return changes


def compare(collection: str, spec: Any, reply: dict[str, Any]) -> tuple[str | None, str | None]:
    """(what cannot be changed in place, what is only said) between stapel.yaml and GET /collections/<name>."""
    vectors = (((reply.get("result") or {}).get("config") or {}).get("params") or {}).get("vectors")
    if not isinstance(vectors, dict) or "size" not in vectors:
        return (f"collection {collection} exists with named vectors ({', '.join(sorted(vectors or {}))}), stapel.yaml declares "
                "one unnamed vector: Qdrant cannot change that in place; use a new collection name"), None
    have, want = (vectors["size"], vectors.get("distance")), (spec.size, spec.distance)
    if have != want:
        return (f"collection {collection} exists with size {have[0]} and distance {have[1]}, stapel.yaml says size {want[0]} "
                f"and distance {want[1]}: Qdrant cannot change a collection's vectors in place; delete the collection (its "
                "points are lost) or use a new name"), None
    on_disk = bool(vectors.get("on_disk"))
    if spec.on_disk is not None and spec.on_disk != on_disk:
        return None, f"collection {collection} keeps its vectors {'on disk' if on_disk else 'in RAM'} (on_disk applies at creation)"
    return None, None


def _json(data: bytes) -> dict[str, Any]:
    try:
        reply = json.loads(data)
    except ValueError:
        return {}
    return reply if isinstance(reply, dict) else {}


# ---- the provisioner interface of provision/steps.py (components/qdrant.py names this module its PROVISIONER)
def wanted(stack: Any, node: Any) -> bool:
    return bool(node.config.collections)


def ensure(stack: Any, node: Any) -> list[str]:
    return []


def apply(stack: Any, node: Any, log: Callable[[str], None]) -> list[str]:
    return provision(node.name, node.config, node.port, log)
