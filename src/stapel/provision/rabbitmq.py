"""RabbitMQ provisioning through the management HTTP API: vhosts, users, permissions, exchanges, queues,
bindings and dead-letter queues, from stapel.yaml, `*_RABBITMQ_URL` values and AsyncAPI documents.

One GET of /api/definitions shows what exists; `plan()` compares it with what is declared (a pure
function), and only the differences are sent, so a second run sends nothing. A user's password is
compared with the salted hash RabbitMQ keeps (no login attempt, no tag needed), and set again when it
changed. Exchanges and queues cannot be changed in place: a difference is reported, nothing is done for
that object or its bindings, and the run fails once everything else is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stapel.errors import ConfigError, StapelError
from stapel.model.topology import RESERVED, Exchange, Queue, Topology, VHost, expand, local_broker_urls, merge, users_from_urls
from stapel.provision import asyncapi
from stapel.provision.rabbitmq_api import ManagementApi, call, definitions, password_matches, path


@dataclass
class Change:
    drift: str  # what --check says: "vhost crm: queue crm.tasks is missing"
    done: str  # what applying it says: "vhost crm: created queue crm.tasks"
    method: str
    where: str
    body: Any = None


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # cannot be changed in place
    undeclared: list[str] = field(default_factory=list)  # exists, not declared: information only


def provision(stack: Any, check: bool = False, say: Callable[[str], None] = print, only: str | None = None) -> list[str]:
    """Declare each broker's topology. Returns the changes made (with check: the drift found, nothing changed).
    Objects that cannot be changed in place raise a StapelError after everything else was applied."""
    nodes = brokers(stack, only)
    require_running(stack, nodes)
    lines: list[str] = []
    for node in nodes:
        top = declared(stack, node)
        mask = masker(stack, top)
        try:
            lines += run(node.name, top, api_for(node), check, lambda text: say(mask(text)), own=(node.config.user, node.config.vhost))  # noqa: B023 - called during this iteration's run()
        except StapelError as exc:
            exc.message, exc.problems = mask(exc.message), [mask(p) for p in exc.problems]
            raise
    return lines


def run(name: str, top: Topology, api: Any, check: bool, say: Callable[[str], None], own: tuple[str, str] = ("", "")) -> list[str]:
    """Plan against one broker's definitions, then apply the plan (or with check, report it). What the AsyncAPI
    documents leave to the clients is said first (information, neither drift nor a change)."""
    for note in top.skipped:
        say(f"{name}: skipped {note}")
    found = plan(top, definitions(name, api), own)
    if check:
        drift = [f"{name}: {c.drift}" for c in found.changes] + [f"{name}: {c}" for c in found.conflicts]
        for line in drift + [f"{name}: undeclared {u} (info)" for u in found.undeclared]:
            say(line)
        if not drift:
            say(f"{name}: no drift")
        return drift
    done = []
    for change in found.changes:
        call(name, api, change.method, change.where, change.body, change.done)
        done.append(f"{name}: {change.done}")
        say(done[-1])
    if found.conflicts:
        raise StapelError(f"{name}: {found.conflicts[0]}", problems=[f"{name}: {c}" for c in found.conflicts[1:]])
    if not done:
        say(f"{name}: unchanged")
    return done


def brokers(stack: Any, only: str | None = None) -> list[Any]:
    from stapel.components import kind_module

    provisioner = __name__.rpartition(".")[2]  # the brokers whose kind names this module its PROVISIONER
    nodes = [n for n in stack.components() if provisioner == kind_module(n.kind).PROVISIONER and only in (None, n.name)]
    if not nodes:
        raise StapelError(f"no rabbitmq component named '{only}'" if only else "no rabbitmq component in stapel.yaml")
    return nodes


def require_running(stack: Any, nodes: list[Any]) -> None:
    """Only a broker this stack runs is touched (never another one that happens to hold the port)."""
    from stapel import runtimes

    procs = runtimes.at(stack.paths).states()
    stopped = [n.name for n in nodes if procs.get(n.name, {}).get("state") != "running"]
    if stopped:
        raise StapelError(f"{', '.join(stopped)}: not running in contour '{stack.instance}'", hint="run stapel up first")


def api_for(node: Any) -> ManagementApi:
    return ManagementApi(node.ports["management"], node.config.user, node.config.password)


def masker(stack: Any, top: Topology) -> Any:
    from stapel.env.masking import Masker

    return Masker([*stack.secrets(), *(u.password for u in top.users.values() if len(u.password) >= 3)])


# --- what is declared ------------------------------------------------------------------------------

def declared(stack: Any, node: Any) -> Topology:
    """stapel.yaml, the AsyncAPI documents and the *_RABBITMQ_URL values, merged, checked and expanded."""
    config, prefix = node.config, f"components.{node.name}"
    vhosts = {name: vhost.model_copy(deep=True) for name, vhost in config.vhosts.items()}
    problems: list[str] = []
    docs = [asyncapi.load(stack.root / file, file) for file in config.asyncapi]
    for doc in docs:
        for name, vhost in doc.topology().items():
            problems += merge(vhosts.setdefault(name, VHost()), vhost, name, doc.shown)
    users = dict(config.users)
    if config.users_from_env:
        problems += _add_env_users(stack, node, users, vhosts)
    problems += _add_service_users(stack, node, users)
    problems += [f"{ref.where}: unknown exchange '{ref.exchange}' in vhost {ref.vhost} (declare it with a type in the "
                 f"document, or under {prefix}.vhosts)"
                 for doc in docs for ref in doc.references if ref.exchange not in vhosts.get(ref.vhost, VHost()).exchanges]
    expanded = {name: expand(vhost) for name, vhost in vhosts.items()}
    problems += _unknown_names(prefix, config, expanded, users)
    if problems:
        raise ConfigError(problems[0], problems=problems[1:])
    return Topology(vhosts=expanded, users=users, skipped=[note for doc in docs for note in doc.skipped])


def _add_env_users(stack: Any, node: Any, users: dict[str, Any], vhosts: dict[str, VHost]) -> list[str]:
    """Seed 000: a user (and its vhost) for each *_RABBITMQ_URL pointing at this broker; declared users win."""
    urls = local_broker_urls(_env(stack), {node.port, node.configured["main"]}, node.name)
    derived, problems = users_from_urls(urls)
    for name, user in derived.items():
        if name != node.config.user and name not in users:
            users[name] = user
            for vhost in user.permissions:
                vhosts.setdefault(vhost, VHost())
    return problems


def _add_service_users(stack: Any, node: Any, users: dict[str, Any]) -> list[str]:
    """Each service that sees the broker its own user (components/rabbitmq.py own_users), unless its use or its own
    <SERVICE>_RABBITMQ_URL names another, or a declared (or *_RABBITMQ_URL) user of that name exists already: that one
    is the service's. A URL user a service takes gets the own-user permissions (owned_url_users)."""
    from stapel.components import rabbitmq_users

    problems, env = [], stack.all_env()
    services = stack.users_of(node)
    for name, use in services.items():
        try:
            rabbitmq_users.credentials(node, name, use, env)
        except StapelError as exc:
            problems.append(exc.lines()[0])
    if problems:
        return problems
    users.update(rabbitmq_users.owned_url_users(node, services, env))
    for name, user in rabbitmq_users.own_users(node, services, env).items():
        users.setdefault(name, user)
    return problems


def _env(stack: Any) -> dict[str, str]:
    env = dict(stack.env)
    for service in stack.services():
        env.update(service.config.env)
    return env


def _unknown_names(prefix: str, config: Any, vhosts: dict[str, VHost], users: dict[str, Any]) -> list[str]:
    problems = []
    for name, vhost in vhosts.items():
        for i, binding in enumerate(vhost.bindings):
            where = f"{prefix}.vhosts.{name}.bindings[{i}]"
            if binding.exchange not in vhost.exchanges and not binding.exchange.startswith(RESERVED):
                problems.append(f"{where}.exchange: unknown exchange '{binding.exchange}' (declare it under {prefix}.vhosts.{name}.exchanges)")
            if binding.queue not in vhost.queues:
                problems.append(f"{where}.queue: unknown queue '{binding.queue}' (declare it under {prefix}.vhosts.{name}.queues)")
    for user_name, user in users.items():
        if user_name == config.user:
            problems.append(f"{prefix}.users.{user_name}: that is the component's own user ({prefix}.user); give services their own")
        problems += [f"{prefix}.users.{user_name}.permissions.{vhost}: unknown vhost '{vhost}' (declare it under {prefix}.vhosts)"
                     for vhost in user.permissions if vhost not in vhosts and vhost != config.vhost]
    return problems


# --- declared vs actual ----------------------------------------------------------------------------

def plan(top: Topology, defs: dict[str, Any], own: tuple[str, str] = ("", "")) -> Plan:
    """What to send to make the broker (its /api/definitions) hold the declared topology."""
    result = Plan()
    _vhosts(top, defs, result, own[1])
    _users(top, defs, result, own[0])
    blocked = _exchanges(top, defs, result) | _queues(top, defs, result)
    _bindings(top, defs, result, blocked)
    return result


def _vhosts(top: Topology, defs: dict[str, Any], result: Plan, own: str) -> None:
    actual = {v["name"] for v in defs.get("vhosts", [])}
    result.changes += [Change(f"vhost {v} is missing", f"created vhost {v}", "PUT", path("vhosts", v), {}) for v in top.vhosts if v not in actual]
    result.undeclared += [f"vhost {v}" for v in sorted(actual - set(top.vhosts) - {own})]


def _users(top: Topology, defs: dict[str, Any], result: Plan, own: str) -> None:
    actual = {u["name"]: u for u in defs.get("users", [])}
    for name, user in top.users.items():
        have, where, body = actual.get(name), path("users", name), {"password": user.password, "tags": ",".join(user.tags)}
        if have is None:
            result.changes.append(Change(f"user {name} is missing", f"created user {name}", "PUT", where, body))
        elif not password_matches(user.password, have.get("password_hash", ""), have.get("hashing_algorithm", "")):
            result.changes.append(Change(f"user {name}: the password differs", f"synced the password of user {name}", "PUT", where, body))
        elif sorted(_tags(have.get("tags"))) != sorted(user.tags):
            drift = f"user {name}: tags are [{', '.join(_tags(have.get('tags')))}], declared [{', '.join(user.tags)}]"
            result.changes.append(Change(drift, f"set the tags of user {name}", "PUT", where, body))
        _permissions(name, user, defs, result)
    result.undeclared += [f"user {u}" for u in sorted(set(actual) - set(top.users) - {own})]


def _permissions(name: str, user: Any, defs: dict[str, Any], result: Plan) -> None:
    perms = {p["vhost"]: p for p in defs.get("permissions", []) if p["user"] == name}
    for vhost, wanted in user.permissions.items():
        want, got = wanted.model_dump(), perms.get(vhost)
        if got is None or any(got.get(k) != v for k, v in want.items()):
            drift = "has no permissions" if got is None else f"has permissions {_shown_perms(got)}, declared {_shown_perms(want)}"
            result.changes.append(Change(f"vhost {vhost}: user {name} {drift}", f"vhost {vhost}: set the permissions of user {name}",
                                         "PUT", path("permissions", vhost, name), want))


def _exchanges(top: Topology, defs: dict[str, Any], result: Plan) -> set[tuple[str, str, str]]:
    actual = {(e["vhost"], e["name"]): e for e in defs.get("exchanges", [])}
    blocked = set()
    for vname, vhost in top.vhosts.items():
        for name, spec in vhost.exchanges.items():
            want = _exchange_props(spec)
            have = actual.get((vname, name))
            if have is None:
                result.changes.append(Change(f"vhost {vname}: exchange {name} is missing", f"vhost {vname}: created exchange {name} ({spec.type})",
                                             "PUT", path("exchanges", vname, name), want))
            elif differences := _differences(_exchange_props(have), want):
                blocked.add(("e", vname, name))
                result.conflicts.append(f"vhost {vname}: exchange {name} exists with {differences}: RabbitMQ cannot change an exchange "
                                        f"in place; delete the exchange (its bindings are lost) or use a new name")
        result.undeclared += [f"vhost {vname}: exchange {n}" for (v, n) in sorted(actual)
                              if v == vname and n and not n.startswith(RESERVED) and n not in vhost.exchanges]
    return blocked


def _queues(top: Topology, defs: dict[str, Any], result: Plan) -> set[tuple[str, str, str]]:
    actual = {(q["vhost"], q["name"]): q for q in defs.get("queues", [])}
    blocked = set()
    for vname, vhost in top.vhosts.items():
        for name, spec in vhost.queues.items():
            want = _queue_props(spec, name)
            have = actual.get((vname, name))
            if have is None:
                result.changes.append(Change(f"vhost {vname}: queue {name} is missing", f"vhost {vname}: created queue {name}",
                                             "PUT", path("queues", vname, name), want))
            elif differences := _differences(_queue_props(have, name), want):
                blocked.add(("q", vname, name))
                what = "queue arguments" if any(k.startswith("x-") for k in _changed(_queue_props(have, name), want)) else "a queue's properties"
                result.conflicts.append(f"vhost {vname}: queue {name} exists with {differences}: RabbitMQ cannot change {what} in place; "
                                        f"delete the queue (its messages are lost) or use a new name")
        result.undeclared += [f"vhost {vname}: queue {n}" for (v, n) in sorted(actual) if v == vname and n not in vhost.queues]
    return blocked


def _bindings(top: Topology, defs: dict[str, Any], result: Plan, blocked: set[tuple[str, str, str]]) -> None:
    actual = [b for b in defs.get("bindings", []) if b.get("destination_type") == "queue" and b.get("source")]
    have = {(b["vhost"], b["source"], b["destination"], b["routing_key"], _frozen(b.get("arguments"))) for b in actual}
    for vname, vhost in top.vhosts.items():
        wanted = {(vname, b.exchange, b.queue, b.routing_key, _frozen(b.arguments)) for b in vhost.bindings}
        for b in vhost.bindings:
            if ("e", vname, b.exchange) in blocked or ("q", vname, b.queue) in blocked:
                continue
            if (vname, b.exchange, b.queue, b.routing_key, _frozen(b.arguments)) not in have:
                result.changes.append(Change(f"vhost {vname}: binding {b.exchange} -> {b.queue} ('{b.routing_key}') is missing",
                                             f"vhost {vname}: bound queue {b.queue} to exchange {b.exchange} ('{b.routing_key}')", "POST",
                                             path("bindings", vname, "e", b.exchange, "q", b.queue),
                                             {"routing_key": b.routing_key, "arguments": b.arguments}))
        result.undeclared += [f"vhost {vname}: binding {k[1]} -> {k[2]} ('{k[3]}')" for k in sorted(have - wanted, key=str) if k[0] == vname]


def _exchange_props(spec: Exchange | dict[str, Any]) -> dict[str, Any]:
    data = spec.model_dump() if isinstance(spec, Exchange) else spec
    return {k: data.get(k, False) for k in ("type", "durable", "auto_delete", "internal")} | {"arguments": data.get("arguments") or {}}


def _queue_props(spec: Queue | dict[str, Any], name: str) -> dict[str, Any]:
    args = spec.effective_arguments(name) if isinstance(spec, Queue) else dict(spec.get("arguments") or {})
    if args.get("x-queue-type") == "classic":  # the default: newer brokers spell it out
        del args["x-queue-type"]
    data = spec.model_dump() if isinstance(spec, Queue) else spec
    return {"durable": data.get("durable", True), "auto_delete": data.get("auto_delete", False), "arguments": args}


def _flat(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != "arguments"} | props["arguments"]


def _changed(have: dict[str, Any], want: dict[str, Any]) -> list[str]:
    flat_have, flat_want = _flat(have), _flat(want)
    return [k for k in dict.fromkeys([*flat_want, *flat_have]) if flat_have.get(k) != flat_want.get(k)]


def _differences(have: dict[str, Any], want: dict[str, Any]) -> str:
    flat_have, flat_want = _flat(have), _flat(want)
    return "; ".join(f"{k}={_shown(flat_have.get(k))}, declared {_shown(flat_want.get(k))}" for k in _changed(have, want))


def _shown(value: Any) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _shown_perms(perms: dict[str, Any]) -> str:
    return "/".join(f"{perms.get(k)}" for k in ("configure", "write", "read"))


def _frozen(args: Any) -> str:
    import json

    return json.dumps(args or {}, sort_keys=True)


def _tags(tags: Any) -> list[str]:
    if isinstance(tags, str):
        return [t for t in tags.split(",") if t]
    return list(tags or [])



# ---- the provisioner interface of provision/steps.py (components/rabbitmq.py names this module its PROVISIONER)
def wanted(stack: Any, node: Any) -> bool:
    """Anything to declare: from stapel.yaml, AsyncAPI documents, *_RABBITMQ_URL values."""
    topology = declared(stack, node)
    return bool(topology.vhosts or topology.users)


def ensure(stack: Any, node: Any) -> list[str]:
    return []


def apply(stack: Any, node: Any, log: Callable[[str], None]) -> list[str]:
    return provision(stack, say=log, only=node.name)
