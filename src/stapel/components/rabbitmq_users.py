"""RabbitMQ's services each with their own user (issue 13 item 7): the kind's service_exports, admin_url and
service_passwords (re-exported by components/rabbitmq.py), and the users provision/rabbitmq.py declares."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from stapel.components.base import Node
from stapel.env.connections import HOST, Exports, amqp_url, grouped, http_url

if TYPE_CHECKING:
    from stapel.model.schema import Use

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
    return amqp_url(node.config.user, node.config.password, node.main_port, node.config.vhost)


def service_passwords(node: Node, services: dict[str, Use | None]) -> dict[str, str]:
    """{variable: password} of the services' own users, for renders that pass secrets by reference (MQ_USERS_PASSWORD)."""
    return {f"{node.env_name}_{name.upper().replace('-', '_')}_PASSWORD": user.password for name, user in sorted(own_users(node, services).items())}


def env_users(node: Node, env: dict[str, str]) -> dict[str, Any]:
    """Seed 000: the users the *_RABBITMQ_URL values pointing at this broker name (users_from_env), but its own user."""
    from stapel.model.topology import local_broker_urls, users_from_urls

    if not node.config.users_from_env:
        return {}
    found, _problems = users_from_urls(local_broker_urls(env, {node.main_port, node.configured.get("main", node.main_port)}, node.name))
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
    url = amqp_url(user, password, node.main_port, vhost)
    details = {"HOST": HOST, "PORT": str(node.main_port), "USER": user, "PASSWORD": password, "VHOST": vhost,
               "MANAGEMENT_URL": http_url(node.ports["management"])}
    return grouped("RABBITMQ", url, {"RABBITMQ_URL": url}, details)
