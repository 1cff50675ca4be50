"""--runtime compose behind the runtime contract: one contour's rendered project (.local/compose/<instance>/).

compose.yaml and .env.compose (0600) are written by an up (engine/up_compose.py); up.json in that folder records
what the last successful up started, so status, check, stop and down answer without loading stapel.yaml.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from stapel.errors import PreflightError, StapelError
from stapel.runtimes.compose import RECORD, Project, all_profiles, budget, detect, folder_of


def selection(doc: dict[str, Any], services: list[str] | None, skip_backend: bool,
              profiles: list[str] | None) -> tuple[list[str], list[str], list[str]]:
    """(active profiles, services named on the command line, every service expected to run) for one up.

    Like native up: without --profile every profile is active (everything declared runs), with it what has no
    profile plus those; --skip-backend drops the `backend` profile (the services' default). The rendered file's
    services, not the stack's nodes: it adds exporters and one-shot jobs."""
    from stapel.model.schema import did_you_mean

    body, known = doc["services"], all_profiles(doc)
    unknown = [p for p in profiles or [] if p not in known]
    if unknown:
        raise PreflightError(f"--profile: no service of the rendered compose.yaml has profile '{unknown[0]}'"
                             f"{did_you_mean(unknown[0], known) if known else ' (it declares no profiles)'}")
    active = [p for p in (known if profiles is None else profiles) if not (skip_backend and p == "backend")]
    if services is None or skip_backend:
        return active, [], [n for n, b in body.items() if not b.get("profiles") or set(b["profiles"]) & set(active)]
    unknown = [s for s in services if s not in body]
    if unknown:
        raise PreflightError(f"--service: unknown name '{unknown[0]}'{did_you_mean(unknown[0], sorted(body))}")
    wanted, todo = [], list(services)
    while todo:
        name = todo.pop(0)
        if name not in wanted:
            wanted.append(name)
            todo += list(body[name].get("depends_on") or [])
    extra = sorted({p for n in wanted for p in body[n].get("profiles", [])} - set(active))
    return active + extra, list(services), [n for n in body if n in wanted]


class ComposeRuntime:
    name = "compose"
    restarts_in_place = True  # `compose restart`: the container keeps its spec until the next up

    def __init__(self, paths: Any):
        self.paths, self.folder = paths, folder_of(paths)
        self._loaded: tuple[Project | None, dict[str, Any]] | None = None

    # --- the rendered project and the last up's record ----------------------------------------------
    def project(self) -> tuple[Project | None, dict[str, Any]]:
        """The rendered project of this contour and its document, or (None, {}) when no up wrote one."""
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    def _load(self) -> tuple[Project | None, dict[str, Any]]:
        import yaml

        try:
            lines = (self.folder / ".env.compose").read_text().splitlines()
            doc = yaml.safe_load((self.folder / "compose.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            return None, {}
        name = next((line.split("=", 1)[1] for line in lines if line.startswith("COMPOSE_PROJECT_NAME=")), None)
        if not name:
            return None, {}
        return Project(detect(), self.folder, name, all_profiles(doc)), doc

    def record(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.folder / RECORD).read_text())
        except (OSError, ValueError):
            return None

    def nothing(self) -> str:
        return f"nothing was brought up with --runtime compose for contour '{self.paths.contour}'"

    def named(self, names: list[str], what: str = "--service") -> tuple[Project, dict[str, Any]]:
        """The project, when every name is a service of its compose.yaml; else one line saying which is not."""
        project, doc = self.project()
        if project is None:
            raise StapelError(f"{what}: {self.nothing()}" if what == "logs" else self.nothing(), hint="stapel --runtime compose up")
        known = sorted(doc.get("services") or {})
        unknown = [n for n in names if n not in known]
        if unknown:
            raise StapelError(f"{what}: no service '{unknown[0]}' in {project.folder / 'compose.yaml'}", hint=f"known: {', '.join(known)}")
        return project, doc

    # --- the contract --------------------------------------------------------------------------------
    def active(self) -> bool:
        return self.record() is not None

    def serving(self) -> bool:
        """No helper of stapel's own answers for a compose project: so no fast path (engine/fastpath.py); an up
        always asks the compose CLI, which is itself quick on an unchanged project."""
        return False

    def states(self) -> dict[str, dict[str, Any]]:
        """Every container of the project and every service the last up started, by name."""
        project, doc = self.project()
        if project is None:
            return {}
        services, record = doc.get("services") or {}, self.record() or {}
        containers = project.states()
        found = {}
        for name in dict.fromkeys([*record.get("services", {}), *containers]):
            container, body = containers.get(name), services.get(name, {})
            found[name] = {"image": body.get("image") or "build", "state": container.state if container else "not running",
                           "health": container.health or "-" if container else "-", "container": container.name if container else "-",
                           "ports": ", ".join(body.get("ports") or []) or "-",
                           "healthy": bool(container and container.ready("healthcheck" in body) and not container.failed()),
                           "detail": container.describe() if container else "no container"}
        return found

    def check_names(self, names: list[str]) -> None:
        self.named(names)

    def running_services(self, command: str) -> list[str]:
        raise StapelError(f"stapel {command} --backend: native only for now", hint="name the services: --service a,b")

    def stop(self, names: list[str]) -> dict[str, str]:
        project, _ = self.named(names)
        project.stop(names)
        return {name: "stopped" for name in names}

    def restart(self, names: list[str]) -> dict[str, str]:
        """`compose restart`, then until each is ready again (as long as its health check may take)."""
        project, doc = self.named(names)
        services = doc["services"]
        project.run(project.argv("restart", *names), "compose restart")
        project.wait({n: "healthcheck" in services[n] for n in names}, max([30.0] + [budget(services[n].get("healthcheck")) for n in names]))
        return {name: "restarted, ready" for name in names}

    def down(self, volumes: bool) -> dict[str, str]:
        project, _ = self.project()
        if project is None:
            return {}
        project.down(volumes)
        (self.folder / RECORD).unlink(missing_ok=True)
        if volumes:
            shutil.rmtree(self.folder, ignore_errors=True)
        return {}

    def volumes(self) -> str:
        _, doc = self.project()
        names = ", ".join(v.get("name", k) for k, v in (doc.get("volumes") or {}).items()) or "none"
        return f"the Docker volumes of contour '{self.paths.contour}' ({names})"

    def logs_argv(self, name: str, follow: bool, lines: int) -> list[str]:
        project, _ = self.named([name], "logs")
        return project.logs_argv(name, follow, lines)

    def log_tail(self, name: str, lines: int) -> list[str]:
        project, _ = self.named([name], "logs")
        return project.run(project.logs_argv(name, False, lines), "compose logs").splitlines()
