"""RabbitMQ: its own node name, cookie, epmd port, dist port on 127.0.0.1 and management port.

Its failed boot exits 0 (shared/research/native-binaries.md), so readiness decides, never the exit
code. It registers in an epmd of its own on a private port, so the machine's epmd is never touched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets as random
import shutil
import signal
import string
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stapel.components import rabbitmq_home
from stapel.components.base import BinaryVersion, LaunchSpec, Node, component_env, probe_from_config, restart_of
from stapel.env.connections import HOST, Exports, amqp_url, grouped, http_url
from stapel.private import write_private
from stapel.probes import ProbeSpec

if TYPE_CHECKING:
    from stapel.model.schema import Use

DEFAULT_PORTS = {"main": 5672, "management": 15672, "dist": 25672, "epmd": 4369, "prometheus": 15692}
INTERNAL_PORTS = ("dist", "epmd", "prometheus")  # prometheus: rabbitmq_prometheus's /metrics (the stack's Prometheus scrapes it)
PROGRAMS = ["rabbitmq-server"]
PLUGINS = ["rabbitmq_management", "rabbitmq_prometheus"]  # enabled_plugins, as prepare writes it


def binary_version(bins: dict[str, str], run) -> BinaryVersion | None:
    """From where the real script lives, without booting Erlang: Debian's .../lib/rabbitmq_server-3.10.8/sbin/,
    the generic-unix archive's rabbitmq_server-3.13.7/sbin/, Homebrew's Cellar/rabbitmq/3.13.7/."""
    found = re.search(r"rabbitmq(?:_server-|/)(\d+\.\d+(?:\.\d+)*)", os.path.realpath(bins["rabbitmq-server"]))
    return BinaryVersion("RabbitMQ", found.group(1)) if found else None


def version_sources(wanted: tuple[int, ...]) -> dict[str, str]:
    return {"apt": "rabbitmq-server", "brew": "rabbitmq",
            "note": "Team RabbitMQ's apt repositories carry every supported version (https://www.rabbitmq.com/docs/install-debian)"}


def configured_ports(config) -> dict[str, int]:
    return {
        "main": config.port or DEFAULT_PORTS["main"],
        "management": config.management_port or DEFAULT_PORTS["management"],
        "dist": DEFAULT_PORTS["dist"],
        "epmd": DEFAULT_PORTS["epmd"],
        "prometheus": DEFAULT_PORTS["prometheus"],
    }


def probe(node: Node) -> ProbeSpec:
    c = node.config
    default = ProbeSpec("rabbitmq", {"port": node.port, "management_port": node.ports["management"], "user": c.user, "password": c.password},
                        period_seconds=0.1, timeout_seconds=2.0, failure_threshold=900)
    return probe_from_config(node, default)


def exports(node: Node, use: Use | None = None) -> Exports:
    """RABBITMQ_URL (the vhost percent-encoded: / is %2F) and RABBITMQ_*; a use has nothing to narrow here."""
    c = node.config
    url = amqp_url(c.user, c.password, node.port, c.vhost)
    details = {"HOST": HOST, "PORT": str(node.port), "USER": c.user, "PASSWORD": c.password, "VHOST": c.vhost,
               "MANAGEMENT_URL": http_url(node.ports["management"])}
    return grouped("RABBITMQ", url, {"RABBITMQ_URL": url}, details)


def secrets(config) -> list[str]:
    return [config.password, *(user.password for user in config.users.values())]


# --- each service its own user (issue 13 item 7) ----------------------------------------------------------------
# A service that sees the broker (depends_on or uses) connects as a user named after it, with a password derived from
# the component's (env/secrets.py derived_password), no tags (no management API, so no vhosts, users or permissions)
# and rights on the component's vhost only. What a name belongs to is read from the name: `orders.created` and a queue
# `orders` are the service orders' (seed 004 names queues <service>.<event>); every other service's user may neither
# configure, write nor read them. Names no service claims (shared exchanges such as platform.events) are open to all.
# `uses.<mq>.user` hands it another user instead: the component's own (the opt-out), a declared or a derived one.


def own_permission(others: list[str]) -> Any:
    """configure/write/read on everything in the vhost except the names other services own (<other>.* or <other>)."""
    from stapel.model.topology import Permission

    if not others:
        return Permission()
    owned = "|".join(re.escape(name) for name in sorted(others))
    pattern = f"^(?!({owned})(\\.|$)).*"
    return Permission(configure=pattern, write=pattern, read=pattern)


def own_users(node: Node, services: dict[str, Use | None]) -> dict[str, Any]:
    """The users of the services (name -> their use of this node) that take no other user: {name: MqUser}."""
    from stapel.env.secrets import derived_password
    from stapel.model.topology import MqUser

    c, mine = node.config, [s for s, use in services.items() if not (use and use.user)]
    return {s: MqUser(password=derived_password(c.password, "rabbitmq", node.name, s),
                      permissions={c.vhost: own_permission(sorted(set(services) - {s}))}) for s in mine}


def admin_url(node: Node, use: Use | None = None) -> str:
    """The component's own user (its administrator) on its vhost."""
    return amqp_url(node.config.user, node.config.password, node.port, node.config.vhost)


def service_passwords(node: Node, services: dict[str, Use | None]) -> dict[str, str]:
    """{variable: password} of the services' own users, for renders that pass secrets by reference (MQ_USERS_PASSWORD)."""
    return {f"{node.env_name}_{name.upper().replace('-', '_')}_PASSWORD": user.password for name, user in sorted(own_users(node, services).items())}


def env_users(node: Node, env: dict[str, str]) -> dict[str, Any]:
    """Seed 000: the users the *_RABBITMQ_URL values pointing at this broker name (users_from_env), but its own user."""
    from stapel.model.topology import local_broker_urls, users_from_urls

    if not node.config.users_from_env:
        return {}
    found, _problems = users_from_urls(local_broker_urls(env, {node.port, node.configured.get("main", node.port)}, node.name))
    return {name: user for name, user in found.items() if name != node.config.user}


def credentials(node: Node, service: str, use: Use | None, env: dict[str, str]) -> tuple[str, str, str]:
    """(user, password, vhost) the service connects with."""
    from stapel.env.secrets import derived_password
    from stapel.errors import ConfigError

    c = node.config
    wanted = use.user if use and use.user else service
    if wanted == c.user:
        return c.user, c.password, c.vhost
    known = {**env_users(node, env), **c.users}  # a declared user wins over one derived from a URL
    if wanted in known:
        vhosts = list(known[wanted].permissions)
        return wanted, known[wanted].password, c.vhost if c.vhost in vhosts or not vhosts else vhosts[0]
    if use and use.user:
        raise ConfigError(f"services.{service}.uses.{node.name}.user: no user '{wanted}' on {node.name}",
                          hint=f"declare it under components.{node.name}.users, name it in a *_RABBITMQ_URL, or give "
                               f"'{c.user}' ({node.name}'s own user)")
    return service, derived_password(c.password, "rabbitmq", node.name, service), c.vhost


def service_exports(node: Node, service: str, use: Use | None, env: dict[str, str]) -> Exports:
    """What `service` gets: as exports(), with its own user (or the one its use names) and that user's vhost."""
    user, password, vhost = credentials(node, service, use, env)
    url = amqp_url(user, password, node.port, vhost)
    details = {"HOST": HOST, "PORT": str(node.port), "USER": user, "PASSWORD": password, "VHOST": vhost,
               "MANAGEMENT_URL": http_url(node.ports["management"])}
    return grouped("RABBITMQ", url, {"RABBITMQ_URL": url}, details)


def node_name(node: Node, ctx) -> str:
    return f"stapel-{ctx.stack_name}-{ctx.paths.contour}-{node.name}@localhost"


def _render(node: Node, conf) -> str:
    return "\n".join([
        f"listeners.tcp.default = 127.0.0.1:{node.port}",
        "management.tcp.ip = 127.0.0.1",
        f"management.tcp.port = {node.ports['management']}",
        "prometheus.tcp.ip = 127.0.0.1",
        f"prometheus.tcp.port = {node.ports['prometheus']}",
        f"load_definitions = {conf / 'definitions.json'}",
        "loopback_users = none",
        "log.console = true",
        "log.file = false",
        "",
    ])


HASHING_ALGORITHM = "rabbit_password_hashing_sha256"


def password_hash(node_name: str, user: str, password: str) -> str:
    """RabbitMQ's stored form of a password (rabbit_password_hashing_sha256): base64(salt + SHA-256(salt + password)).
    The 4-byte salt is derived from node, user and password, so an unchanged password gives the same file (no
    restart per run) and a changed one a new salt. Used for the native definitions file and render's (containers)."""
    salt = hashlib.sha256(f"stapel:{node_name}:{user}:{password}".encode()).digest()[:4]
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _definitions(node: Node) -> str:
    """The user (with a salted SHA-256 of its password, as RabbitMQ stores it), vhost and permissions:
    imported at every boot, so a changed password takes effect, and no secret is on disk."""
    c = node.config
    return json.dumps({
        "users": [{"name": c.user, "password_hash": password_hash(node.name, c.user, c.password), "hashing_algorithm": HASHING_ALGORITHM,
                   "tags": ["administrator"]}],
        "vhosts": [{"name": c.vhost}],
        "permissions": [{"user": c.user, "vhost": c.vhost, "configure": ".*", "write": ".*", "read": ".*"}],
    }, indent=2) + "\n"


def native(node: Node, ctx) -> LaunchSpec:
    bins = ctx.binaries(node, PROGRAMS)
    conf, data = ctx.paths.conf(node.name), ctx.paths.data(node.name)
    env = component_env(node, {
        "HOME": str(conf),  # the Erlang cookie lives here, for the node and for rabbitmqctl alike
        "RABBITMQ_NODENAME": node_name(node, ctx),
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(node.port),
        "RABBITMQ_DIST_PORT": str(node.ports["dist"]),
        "RABBITMQ_MNESIA_BASE": str(data / "mnesia"),
        "RABBITMQ_LOG_BASE": str(data / "log"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_CONFIG_FILE": str(conf / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(conf / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(conf / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(conf / "rabbitmq-env.conf"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(node.ports["epmd"]),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        **_home_env(node, bins, conf),
    })
    epmd = ctx.which("epmd", near=bins["rabbitmq-server"]) or "epmd"
    erl_call = _erl_call(ctx, bins["rabbitmq-server"])
    return LaunchSpec(
        name=node.name,
        role="component",
        argv=[bins["rabbitmq-server"], *node.config.args],
        env=env,
        cwd=str(data),  # a failed boot drops erl_crash.dump in the cwd
        log=str(ctx.paths.log(node.name)),
        stop_signal=int(signal.SIGTERM),
        stop_timeout=30.0,
        stop_repeat_seconds=1.0,  # a SIGTERM in the first moments of boot is lost (the node then runs on)
        before_stop=[[erl_call, "-sname", node_name(node, ctx), *_UNHOOK_STATS]] if erl_call else [],
        after_stop=[[epmd, "-port", str(node.ports["epmd"]), "-kill"]],
        restart=restart_of(node.config),
        hash_basis={"bin": bins["rabbitmq-server"], "conf": _render(node, conf), "definitions": _definitions(node), "env": env,
                    "args": node.config.args},
    )


# RabbitMQ 3.x's management agent leaves an event handler whose terminate callback calls the
# application controller while that controller is busy stopping `rabbit`: every stop then hangs
# for the 5 s call timeout. Removing the handler while the node still runs (a few ms through
# erl_call, which finds the node through ERL_EPMD_PORT and the cookie in HOME) leaves the normal
# orderly shutdown intact (queues and message stores are closed as usual) and saves those 5 s.
_UNHOOK_STATS = ["-a", "gen_event delete_handler [rabbit_event, rabbit_mgmt_db_handler, []]"]


def _erl_call(ctx, server: str) -> str | None:
    """erl_call ships with Erlang, beside `erl` (Debian: /usr/lib/erlang/bin, not on PATH)."""
    found = ctx.which("erl_call", near=server)
    erl = shutil.which("erl")
    candidates = [Path(erl).resolve().parent / "erl_call"] if erl else []
    candidates.append(Path("/usr/lib/erlang/bin/erl_call"))
    return found or next((str(c) for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


def _home_env(node: Node, bins: dict[str, str], conf: Path) -> dict[str, str]:
    """The private minimal home's variables, when the installed layout allows one (rabbitmq_home.py)."""
    chosen = rabbitmq_home.plan(bins["rabbitmq-server"], PLUGINS, node.config.env)
    return rabbitmq_home.env_of(conf / "home") if chosen.why_not is None else {}


def prepare(node: Node, ctx) -> list[str]:
    conf, data = ctx.paths.conf(node.name), ctx.paths.data(node.name)
    ctx.make_private_dir(conf, None)
    ctx.make_private_dir(data, None)
    _write(conf / "rabbitmq.conf", _render(node, conf), 0o600)
    _write(conf / "definitions.json", _definitions(node), 0o600)
    _write(conf / "enabled_plugins", f"[{','.join(PLUGINS)}].\n", 0o600)
    _write(conf / "rabbitmq-env.conf", "", 0o600)
    cookie = conf / ".erlang.cookie"
    if not cookie.exists():
        _write(cookie, "".join(random.choice(string.ascii_uppercase) for _ in range(32)), 0o400)
    chosen = rabbitmq_home.plan(ctx.binaries(node, PROGRAMS)["rabbitmq-server"], PLUGINS, node.config.env)
    if chosen.why_not is not None:
        return [f"the stock RabbitMQ layout (no private minimal home: {chosen.why_not})"]
    rabbitmq_home.build(conf / "home", chosen)
    return [f"a private minimal home with {len(chosen.plugins)} of its plugins: {conf / 'home'}"]


def _write(path, text: str, mode: int) -> None:
    if path.exists() and mode == 0o400:
        return
    write_private(path, text, mode)
