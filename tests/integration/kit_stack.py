"""A stack for the kit's integration tests: the components asked for, started by `stapel up` on free ports in a
traversable folder, the service `worker`'s environment as stapel gives it; always `stapel down` and cleaned."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from conftest import stapel, stop_and_clean, traversable_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


COMPONENTS = {
    "db": lambda: f"{{kind: postgres, port: {free_port()}, password: kit2-db-pw-1, database: kit}}",
    "cache": lambda: f"{{kind: redis, port: {free_port()}, password: kit2-cache-pw-1}}",
    "mq": lambda: (f"{{kind: rabbitmq, port: {free_port()}, management_port: {free_port()}, user: admin, "
                   f"password: kit2-mq-pw-1, asyncapi: [asyncapi.yaml], restart: {{policy: always, backoff_seconds: 0.5}}}}"),
}


@dataclass
class Stack:
    root: Path
    env: dict[str, str]

    def stapel(self, *args: str, timeout: float = 240):
        return stapel(self.root, *args, timeout=timeout)


@contextmanager
def stack(name: str, *components: str, asyncapi: str = "") -> Iterator[Stack]:
    root = traversable_dir(name)
    if asyncapi:
        (root / "asyncapi.yaml").write_text(asyncapi)
    lines = "\n".join(f"  {c}: {COMPONENTS[c]()}" for c in components)
    uses = ", ".join(f"{c}: {{user: default}}" if c == "cache" else f"{c}: {{}}" for c in components)  # many key domains
    (root / "stapel.yaml").write_text(f"name: {name}\ncomponents:\n{lines}\nservices:\n  worker:\n"
                                      f"    command: python3 -c pass\n    env_prefix: W_\n    uses: {{{uses}}}\n")
    try:
        up = stapel(root, "up", "--skip-backend", timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        printed = stapel(root, "env", "print", "--service", "worker", "--format", "json", "--reveal", check=True)
        yield Stack(root, json.loads(printed.stdout))
    finally:
        assert not stop_and_clean(root)
