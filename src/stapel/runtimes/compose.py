"""--runtime compose: the contour rendered by render/compose.py, driven through the engine's own compose CLI.

`docker compose` (the v2 plugin) is preferred; `docker-compose` (v1, e.g. Debian's 1.29) works too. The two differ
where stapel looks: v1 has no `up --wait` and no `ps --format json`, so under v1 stapel polls `ps -a -q` and
`docker inspect` until every container it started is healthy (or completed, or the probe budget runs out).
`ps --format json` itself is a JSON array before Compose 2.21 and one object per line since.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stapel.errors import PreflightError, StartError

DETECT_TIMEOUT = 10.0  # seconds for `docker info` and `compose version`
COMMAND_TIMEOUT = 120.0  # ps, stop, down, logs without -f
UP_TIMEOUT = 1800.0  # `up` may pull images and build the services' own
POLL_SECONDS = 0.5
NATIVE = "run natively: drop --runtime compose"
_SERVICE_LABEL = "com.docker.compose.service"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


RECORD = "up.json"  # in the project's folder: what the last successful up ran (status/check/down read it)


def folder_of(paths: Any) -> Path:
    """Where a contour's rendered Compose project lives: .local/compose/<contour>/."""
    return paths.local / "compose" / paths.contour


@dataclass(frozen=True)
class Engine:
    base: tuple[str, ...]  # ("/usr/bin/docker", "compose") or ("/usr/bin/docker-compose",)
    v2: bool
    docker: str  # the docker CLI: `info`, and `inspect` under v1
    compose_version: str
    server_version: str

    @property
    def cli(self) -> str:
        return "docker compose" if self.v2 else "docker-compose"

    @property
    def label(self) -> str:
        return f"{self.cli} {self.compose_version}, engine {self.server_version}"


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _first_sentence(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("WARNING")]
    return re.split(r"\.\s", lines[-1])[0].rstrip(".") if lines else "no answer"


def _version(text: str) -> str:
    found = re.search(r"v?(\d+\.\d+\.\d+[\w.+-]*)", text)
    return found.group(1) if found else text.strip() or "?"


def detect(timeout: float = DETECT_TIMEOUT) -> Engine:
    """A compose CLI exists and an engine answers (`docker info`, for v1 too: it needs the docker CLI for `inspect`
    anyway), or a PreflightError saying which of the two is missing."""
    docker, legacy = shutil.which("docker"), shutil.which("docker-compose")
    base: tuple[str, ...] | None = None
    v2, version = False, ""
    if docker:
        done = _run([docker, "compose", "version"], timeout)
        if done is not None and done.returncode == 0:
            base, v2, version = (docker, "compose"), True, _version(done.stdout)
    if base is None and legacy:
        done = _run([legacy, "version"], timeout)
        if done is not None and done.returncode == 0:
            base, version = (legacy,), _version(done.stdout)
    if base is None:
        what = "the docker CLI has no compose plugin and docker-compose is not installed" if docker else \
            "neither `docker compose` nor `docker-compose` is installed"
        raise PreflightError(f"--runtime compose: {what}",
                             hint=f"install the Docker Compose plugin (apt-get install docker-compose-plugin), or {NATIVE}")
    if not docker:
        raise PreflightError("--runtime compose: docker-compose is installed but the docker CLI is not (stapel asks the "
                             "engine through `docker info` and `docker inspect`)", hint=f"install docker (apt-get install docker.io), or {NATIVE}")
    done = _run([docker, "info", "--format", "{{.ServerVersion}}"], timeout)
    if done is None:
        raise PreflightError(f"--runtime compose: no Docker engine answered `docker info` within {timeout:g}s",
                             hint=f"start Docker, or {NATIVE}")
    if done.returncode != 0 or not done.stdout.strip():
        raise PreflightError(f"--runtime compose: no Docker engine is reachable (docker info: {_first_sentence(done.stderr + done.stdout)})",
                             hint=f"start Docker, or {NATIVE}")
    return Engine(base, v2, docker, version, done.stdout.strip())


@dataclass
class Container:
    service: str
    state: str  # running | exited | created | restarting | paused | dead
    health: str  # healthy | unhealthy | starting | "" (no health check)
    exit_code: int
    name: str
    id: str
    status: str = ""

    def ready(self, has_check: bool) -> bool:
        if self.state == "exited":
            return self.exit_code == 0
        return self.state == "running" and (self.health == "healthy" if has_check else True)

    def failed(self) -> str | None:
        """Why waiting longer is pointless, or None."""
        if self.state == "exited" and self.exit_code != 0:
            return f"exited with code {self.exit_code}"
        if self.state == "dead":
            return "dead"
        if self.health == "unhealthy":
            return "unhealthy"
        return None

    def describe(self) -> str:
        if self.state == "exited":
            return f"exited ({self.exit_code})"
        return self.state + (f" ({self.health})" if self.health else "")


def parse_ps_json(text: str) -> list[Container]:
    """`compose ps --format json`: an array (Compose < 2.21) or one object per line (2.21 and later)."""
    text = text.strip()
    if not text:
        return []
    rows = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line.strip()]
    return [Container(r["Service"], (r.get("State") or "").lower(), (r.get("Health") or "").lower(), int(r.get("ExitCode") or 0),
                      r.get("Name", ""), r.get("ID", ""), r.get("Status", "")) for r in rows]


def parse_inspect(text: str) -> list[Container]:
    """`docker inspect` of the project's containers (v1's only structured view)."""
    found = []
    for item in json.loads(text or "[]"):
        state = item.get("State") or {}
        found.append(Container((item.get("Config") or {}).get("Labels", {}).get(_SERVICE_LABEL, "?"), state.get("Status", ""),
                               ((state.get("Health") or {}).get("Status") or "").lower(), int(state.get("ExitCode") or 0),
                               item.get("Name", "").lstrip("/"), item.get("Id", "")))
    return found


def seconds(duration: str | None) -> float:
    """A Compose duration ("1s", "100ms", "1m30s") in seconds."""
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * factor[unit] for n, unit in _DURATION.findall(str(duration or "")))


def budget(healthcheck: dict[str, Any] | None) -> float:
    """How long a container may take to turn healthy: start_period + interval x retries (Compose's own rule)."""
    if not healthcheck:
        return 0.0
    return seconds(healthcheck.get("start_period")) + (seconds(healthcheck.get("interval")) or 30) * int(healthcheck.get("retries", 3))


def not_ready(states: dict[str, Container], checks: dict[str, bool], step: str) -> list[tuple[str, str]]:
    """The services of `checks` not ready yet, with their state; raises on one that will never be."""
    pending = []
    for name, has_check in checks.items():
        container = states.get(name)
        if container is None:
            pending.append((name, "no container"))
        elif container.failed():
            raise StartError(f"{step}: {name} {container.failed()}", hint=f"stapel --runtime compose logs {name}")
        elif not container.ready(has_check):
            pending.append((name, container.describe()))
    return pending


def all_profiles(doc: dict[str, Any]) -> list[str]:
    return sorted({p for body in (doc.get("services") or {}).values() for p in body.get("profiles") or []})


class Project:
    """One rendered contour (compose.yaml + .env.compose in `folder`) as the compose project `name`; every profile
    of the file is active for ps, stop, restart, down and logs, so they see every container of the project."""

    def __init__(self, engine: Engine, folder: Path, name: str, profiles: list[str], log: Callable[[str], None] = lambda text: None):
        self.engine, self.folder, self.name, self.profiles, self.log = engine, folder, name, profiles, log

    def argv(self, *args: str, profiles: list[str] | None = None) -> list[str]:
        head = [*self.engine.base, "--env-file", str(self.folder / ".env.compose"), "-f", str(self.folder / "compose.yaml"),
                "-p", self.name]
        for profile in self.profiles if profiles is None else profiles:
            head += ["--profile", profile]
        return [*head, *args]

    def run(self, argv: list[str], what: str, timeout: float = COMMAND_TIMEOUT, quiet: bool = False) -> str:
        """The command's output; `quiet` (polling) logs only failures."""
        if not quiet:
            self.log("$ " + " ".join(argv))
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise StartError(f"{what}: {self.engine.cli} did not finish within {timeout:g}s") from None
        for line in (done.stdout + done.stderr).splitlines() if not quiet or done.returncode else []:
            if line.strip():
                self.log("  " + line)
        if done.returncode != 0:
            raise StartError(f"{what}: {self.engine.cli} exited with {done.returncode}: {_first_sentence(done.stderr or done.stdout)}")
        return done.stdout

    def up(self, profiles: list[str], services: list[str], timeout: float = UP_TIMEOUT) -> None:
        wait = ["--wait"] if self.engine.v2 else []
        self.run(self.argv("up", "-d", *wait, *services, profiles=profiles), timeout=timeout, what="compose up")

    def containers(self, quiet: bool = False) -> list[Container]:
        if self.engine.v2:
            return parse_ps_json(self.run(self.argv("ps", "-a", "--format", "json"), "compose ps", quiet=quiet))
        ids = self.run(self.argv("ps", "-a", "-q"), "compose ps", quiet=quiet).split()
        if not ids:
            return []
        return parse_inspect(self.run([self.engine.docker, "inspect", *ids], "docker inspect", quiet=quiet))

    def states(self, quiet: bool = False) -> dict[str, Container]:
        return {c.service: c for c in self.containers(quiet)}

    def wait(self, checks: dict[str, bool], limit: float) -> dict[str, Container]:
        """Until every service in `checks` (name -> has a health check) is ready; fails at once on a dead one."""
        deadline = time.monotonic() + limit
        seen: dict[str, str] = {}  # the last state logged per service
        while True:
            states = self.states(quiet=True)
            for name in checks:
                now = states[name].describe() if name in states else "no container"
                if seen.get(name) != now:
                    self.log(f"{name}: {now}")
                    seen[name] = now
            pending = not_ready(states, checks, "wait")
            if not pending:
                return states
            if time.monotonic() >= deadline:
                name, state = pending[0]
                raise StartError(f"wait: {name} is not ready after {limit:.0f}s: {state}",
                                 hint=f"stapel --runtime compose logs {name}", problems=[f"{n}: {s}" for n, s in pending[1:]])
            time.sleep(POLL_SECONDS)

    def stop(self, services: list[str]) -> None:
        self.run(self.argv("stop", *services), what="compose stop")

    def down(self, volumes: bool) -> str:
        return self.run(self.argv("down", *(["-v"] if volumes else [])), what="compose down")

    def logs_argv(self, name: str, follow: bool, lines: int) -> list[str]:
        return self.argv("logs", *(["-f"] if follow else []), "--tail", str(lines), name)
