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
# Seed 000 (users_from_env): a service that names none and whose own <SERVICE>_RABBITMQ_URL (crm-api:
# CRM_API_RABBITMQ_URL) points at this broker connects as that URL's user, password and vhost instead, at the broker's
# real host and port; that user keeps the own-user rule (owned_url_users). Without the variable: its own user.


def own_permission(others: list[str]) -> Any:
    """configure/write/read on everything in the vhost except the names other services own (<other>.* or <other>)."""
    from stapel.model.topology import Permission

    if not others:
        return Permission()
    owned = "|".join(re.escape(name) for name in sorted(others))
    pattern = f"^(?!({owned})(\\.|$)).*"
    return Permission(configure=pattern, write=pattern, read=pattern)


def own_users(node: Node, services: dict[str, Use | None], env: dict[str, str]) -> dict[str, Any]:
    """The users of the services (name -> their use of this node) that take no other user (neither a `uses` one nor
    the one of their own *_RABBITMQ_URL): {name: MqUser}."""
    from stapel.env.secrets import derived_password
    from stapel.model.topology import MqUser

    c = node.config
    mine = [s for s, use in services.items() if not (use and use.user) and handed_url(node, s, env) is None]
    return {s: MqUser(password=derived_password(c.password, "rabbitmq", node.name, s),
                      permissions={c.vhost: own_permission(sorted(set(services) - {s}))}) for s in mine}


def owned_url_users(node: Node, services: dict[str, Use | None], env: dict[str, str]) -> dict[str, Any]:
    """The *_RABBITMQ_URL users (env_users) that services connect as, with the own-user rule on each of their vhosts:
    the services that take one share it, and it stays off the names every other service owns. Declared users keep
    their declared permissions; a URL user no service takes keeps .* (it is for something outside the stack)."""
    from stapel.model.topology import MqUser

    found, owners = env_users(node, env), dict[str, set[str]]()
    for service, use in services.items():
        user = credentials(node, service, use, env)[0]
        if user in found and user not in node.config.users:
            owners.setdefault(user, set()).add(service)
    return {user: MqUser(password=found[user].password, tags=found[user].tags,
                         permissions={v: own_permission(sorted(set(services) - who)) for v in found[user].permissions})
            for user, who in owners.items()}


def admin_url(node: Node, use: Use | None = None) -> str:
    """The component's own user (its administrator) on its vhost."""
    return amqp_url(node.config.user, node.config.password, node.main_port, node.config.vhost)


def service_passwords(node: Node, services: dict[str, Use | None], env: dict[str, str]) -> dict[str, str]:
    """{variable: password} of the services' own users, for renders that pass secrets by reference (MQ_USERS_PASSWORD)."""
    return {f"{node.env_name}_{name.upper().replace('-', '_')}_PASSWORD": user.password
            for name, user in sorted(own_users(node, services, env).items())}


def env_users(node: Node, env: dict[str, str]) -> dict[str, Any]:
    """Seed 000: the users the *_RABBITMQ_URL values pointing at this broker name (users_from_env), but its own user."""
    from stapel.model.topology import local_broker_urls, users_from_urls

    if not node.config.users_from_env:
        return {}
    found, _problems = users_from_urls(local_broker_urls(env, {node.main_port, node.configured.get("main", node.main_port)}, node.name))
    return {name: user for name, user in found.items() if name != node.config.user}


def url_key(service: str) -> str:
    """The variable that hands a service a *_RABBITMQ_URL user by its name: crm-api -> CRM_API_RABBITMQ_URL."""
    return f"{service.upper().replace('-', '_')}_RABBITMQ_URL"


def handed_url(node: Node, service: str, env: dict[str, str]) -> tuple[str, str, str] | None:
    """(user, password, vhost) of the service's own <SERVICE>_RABBITMQ_URL when it points at this broker; None when
    it is unset, a ${...} still to be derived, or another broker's. Its host and port are never used: the service
    gets the broker's real address. A URL stapel cannot use is one line naming the variable."""
    from urllib.parse import unquote, urlsplit

    from stapel.errors import ConfigError
    from stapel.model.topology import bad_broker_url, local_broker_urls

    key, c = url_key(service), node.config
    url = env.get(key, "")
    if not c.users_from_env or not url or "${" in url:
        return None
    why = bad_broker_url(url)
    if why:
        raise ConfigError(f"{key}: {why} (expected amqp://user:password@host:port/vhost)",
                          hint=f"fix it in .env, or remove it and {service} connects as its own user")
    if key not in local_broker_urls({key: url}, {node.main_port, node.configured.get("main", node.main_port)}, node.name):
        return None
    parts = urlsplit(url)
    if not parts.username or parts.password is None:
        raise ConfigError(f"{key}: no user:password (expected amqp://user:password@host:port/vhost)",
                          hint=f"name the user {service} connects as, or remove it and {service} connects as its own user")
    user, password = unquote(parts.username), unquote(parts.password)
    if user == c.user:
        raise ConfigError(f"{key}: '{user}' is {node.name}'s own user (components.{node.name}.user)",
                          hint=f"name another user in the URL, or write services.{service}.uses.{node.name}.user: {user}")
    if user in c.users and c.users[user].password != password:
        raise ConfigError(f"{key}: user '{user}' is declared under components.{node.name}.users with another password",
                          hint="give both the same password, or name another user in the URL")
    return user, password, unquote(parts.path[1:]) if len(parts.path) > 1 else "/"


def credentials(node: Node, service: str, use: Use | None, env: dict[str, str]) -> tuple[str, str, str]:
    """(user, password, vhost) the service connects with: the user its `uses.<mq>.user` names, else the one of its
    own <SERVICE>_RABBITMQ_URL (handed_url), else a declared or URL user of its name, else its derived own user."""
    from stapel.env.secrets import derived_password
    from stapel.errors import ConfigError

    c = node.config
    handed = None if use and use.user else handed_url(node, service, env)
    if handed:
        return handed
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
