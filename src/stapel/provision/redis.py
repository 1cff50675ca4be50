"""Redis ACL users for the services (issue 13 item 7): each service that sees a Redis with a password connects as a
user of its own (components/redis.py own_users: its key and channel patterns, no @dangerous commands).

The users live in the component's aclfile (.local/conf/<contour>/<redis>/users.acl: SHA-256 hashes, no password),
beside its default user, so a Redis the supervisor restarts keeps them. On every up the file is written as it must be
and `ACL LOAD`ed only when it or the server differs (a user missing, another password): a second up sends nothing.
ACL LOAD replaces every user, so users made by hand with ACL SETUSER are dropped: declare them instead.
Speaks RESP over a socket itself: redis-py is the kit's dependency, not the CLI's.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable
from typing import Any

from stapel.errors import StapelError
from stapel.private import write_private

TIMEOUT = 5.0


def wanted(stack: Any, node: Any) -> dict[str, str]:
    """{service: its aclfile line}, for the services that see `node` and take no other user."""
    from stapel.components import redis

    return {name: redis.acl_line(name, password, keys) for name, (password, keys) in sorted(redis.own_users(node, stack.users_of(node)).items())}


def provision(stack: Any, node: Any, say: Callable[[str], None]) -> list[str]:
    from stapel.components import redis

    users = wanted(stack, node)
    path = redis.acl_file(stack.paths, node.name)
    text = "\n".join([redis.default_acl(node), *users.values()]) + "\n"
    before = path.read_text() if path.exists() else ""
    old = {line.split()[1]: line for line in before.splitlines() if line.startswith("user ")}
    with Resp(node.name, node.port, node.config.password) as server:
        live = set(server.call("ACL", "USERS"))
        changes = []
        for name, line in users.items():
            if name not in live:
                changes.append(f"{node.name}: created user {name}")
                continue
            info = server.call("ACL", "GETUSER", name)
            fields = dict(zip(info[::2], info[1::2])) if isinstance(info, list) else {}
            digest = hashlib.sha256(_password(stack, node, name).encode()).hexdigest()
            if list(fields.get("passwords") or []) != [digest]:
                changes.append(f"{node.name}: synced the password of user {name}")
            elif old.get(name) != line:
                changes.append(f"{node.name}: set the rules of user {name}")
        changes += [f"{node.name}: removed user {name}" for name in sorted(live - set(users) - {"default"})]
        if changes or before != text:
            write_private(path, text)
            server.call("ACL", "LOAD")
    for change in changes:
        say(change)
    if not changes:
        say(f"{node.name}: users unchanged")
    return changes


def _password(stack: Any, node: Any, name: str) -> str:
    from stapel.components import redis

    return redis.own_users(node, stack.users_of(node))[name][0]


class Resp:
    """The few commands provisioning needs, authenticated as the default user."""

    def __init__(self, name: str, port: int, password: str | None):
        self.name, self.port, self.password = name, port, password

    def __enter__(self) -> Resp:
        try:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        except OSError as exc:
            raise StapelError(f"{self.name}: cannot reach Redis on 127.0.0.1:{self.port} ({exc.strerror or exc})") from None
        self.reader = self.sock.makefile("rb")
        if self.password:
            self.call("AUTH", self.password)
        return self

    def __exit__(self, *exc: object) -> None:
        self.reader.close()
        self.sock.close()

    def call(self, *args: str) -> Any:
        payload = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
        self.sock.sendall(payload)
        reply = self._read()
        if isinstance(reply, _Error):
            what = args[0] if args[0] == "AUTH" else " ".join(args[:2])
            raise StapelError(f"{self.name}: Redis refused {what}: {reply}")
        return reply

    def _read(self) -> Any:
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise StapelError(f"{self.name}: Redis closed the connection")
        kind, body = line[:1], line[1:-2].decode(errors="replace")
        if kind == b"+":
            return body
        if kind == b"-":
            return _Error(body)
        if kind == b":":
            return int(body)
        if kind == b"$":
            size = int(body)
            return None if size < 0 else self.reader.read(size + 2)[:-2].decode(errors="replace")
        if kind == b"*":
            size = int(body)
            return None if size < 0 else [self._read() for _ in range(size)]
        raise StapelError(f"{self.name}: an answer Redis does not give: {line[:40]!r}")


class _Error(str):
    pass


# ---- the adapter provision/steps.py drives (wanted above)
def ensure(stack: Any, node: Any) -> list[str]:
    return []


def apply(stack: Any, node: Any, log: Callable[[str], None]) -> list[str]:
    return provision(stack, node, log)
