"""`stapel --runtime compose up` as named steps: preflight -> render -> compose-up -> wait -> verify, logged and summarised.

preflight asks for the compose CLI and the engine (and refuses when the contour already runs natively); render writes
.local/compose/<instance>/ (each file replaced whole); compose-up runs `up -d` (v2: `--wait`); wait polls the
containers' health under v1 (v2's --wait already did); verify reads them once more for the report. A failure after
compose-up stops what this run started (containers that already ran stay), like the native rollback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stapel.errors import PreflightError, StapelError, StartError
from stapel.private import write_private
from stapel.render import compose, images
from stapel.runtimes.compose import RECORD, folder_of


def selection(doc: dict[str, Any], services: list[str] | None, skip_backend: bool,
              profiles: list[str] | None) -> tuple[list[str], list[str], list[str]]:
    """(active profiles, services named on the command line, every service expected to run) for one up.

    Like native up: without --profile every profile is active (everything declared runs), with it what has no
    profile plus those; --skip-backend drops the `backend` profile (the services' default)."""
    from stapel.model.schema import did_you_mean
    from stapel.runtimes.compose import all_profiles

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


class ComposeUp:
    def __init__(self, stack: Any, services: list[str] | None, skip_backend: bool, profiles: list[str] | None,
                 say: Callable[[str], None]):
        from stapel.cli.main import STARTED
        from stapel.engine.runlog import RunLog
        from stapel.engine.up import ensure_local

        self.stack, self.mask = stack, stack.masker()
        self.say = lambda text: say(self.mask(text))
        self.folder = folder_of(stack.paths)
        # everything the renderer refuses is refused here, before the engine is asked or a file is written
        self.tag = images.git_tag(stack.root)
        images.check_tags(stack, self.tag, lambda text: self.say(f"warning: {text}"))
        self.doc, refs = compose.build(stack, self.folder, self.tag)
        self.text, self.secrets = compose.document_text(stack, self.doc), compose.env_text(stack, refs)
        self.profiles, self.named, self.expected = selection(self.doc, services, skip_backend, profiles)
        ensure_local(stack.paths)
        self.log = RunLog(stack.paths, "up", stack.name, "compose", stack.file, self.mask, started=STARTED)
        self.project: Any = None
        self.before: dict[str, Any] | None = None  # the containers before compose-up: rollback keeps those
        self.states: dict[str, Any] = {}

    def run(self) -> dict[str, Any]:
        from stapel.engine.lock import stack_lock

        outcome, error = "failed", None
        try:
            with stack_lock(self.stack.paths, "up"):
                try:
                    self._steps()
                    outcome = "ok"
                except KeyboardInterrupt:
                    outcome, error = "interrupted", "interrupted by Ctrl-C"
                    self._rollback()
                    raise
                except StapelError as exc:
                    # what the compose CLI said goes into the message: through the masker like everything printed
                    exc.message, exc.problems = self.mask(exc.message), [self.mask(p) for p in exc.problems]
                    error = exc.lines()[0]
                    self._rollback()
                    raise
        finally:
            summary = self.log.finish(outcome, error, self._report())
        return {**summary, "run_dir": str(self.log.dir)}

    def _step(self, name: str):
        from stapel.engine.up import _StepContext

        return _StepContext(self.log.step(name), self.say)

    def _steps(self) -> None:
        from stapel.engine.up import keep_local_out_of_git, warn_unsynced
        from stapel.runtimes.compose import Project, all_profiles, budget, detect, not_ready
        from stapel.runtimes.native.client import SupervisorClient

        with self._step("preflight") as step:
            warn_unsynced(self.stack, step, self.say)
            keep_local_out_of_git(self.stack, step, self.say)
            native = SupervisorClient(self.stack.paths)
            if native.reachable() or native.has_processes():
                raise PreflightError(f"contour '{self.stack.instance}' runs natively (stapel status shows it)",
                                     hint="stop it first with stapel down, then run stapel --runtime compose up")
            engine = detect()
            step.log(f"{engine.label} ({' '.join(engine.base)})")
            building = {n.name for n in self.stack.services() if n.name in self.expected}
            missing = [line for line in images.missing_dockerfiles(self.stack) if any(line.startswith(f"services.{n}:") for n in building)]
            if missing:  # what `compose up` would otherwise fail on half-way, after pulling the images
                raise PreflightError(missing[0], hint="or leave the services out: --skip-backend", problems=missing[1:])
            self.project = Project(engine, self.folder, f"{self.stack.name}-{self.stack.instance}",
                                   all_profiles(self.doc), step.log)
        with self._step("render") as step:
            for change in self._write():
                step.changed(change)
        with self._step("compose-up") as step:
            self.project.log = step.log
            self.before = self.project.states()
            (self.folder / RECORD).unlink(missing_ok=True)  # until this up is through, no up of this project is on record
            self.project.up(self.profiles, self.named)
            after = self.project.states()
            for name in self.expected:
                was, now = self.before.get(name), after.get(name)
                if now is not None and (was is None or was.id != now.id):
                    step.changed(f"{'created' if was is None else 'recreated'} {name}")
                elif now is not None and was.state != "running" and now.state == "running":
                    step.changed(f"started {name}")
            for change in step.changes:
                self.say(f"  {change}")
        services = self.doc["services"]
        checks = {n: "healthcheck" in services[n] for n in self.expected}
        with self._step("wait") as step:
            self.project.log = step.log
            if self.project.engine.v2:
                step.skip("docker compose up --wait waited for health")
            else:
                limit = max([30.0] + [budget(services[n].get("healthcheck")) for n in self.expected])
                self.project.wait(checks, limit)
        with self._step("verify") as step:
            self.project.log = step.log
            self.states = self.project.states()
            for name in self.expected:
                step.log(f"{name}: {self.states[name].describe() if name in self.states else 'no container'}")
            bad = not_ready(self.states, checks, "verify")
            if bad:
                raise StartError(f"verify: not ready: {bad[0][0]}: {bad[0][1]}", problems=[f"{n}: {s}" for n, s in bad[1:]])
        record = {"project": self.project.name, "profiles": self.profiles, "services": checks, "file_hash": self.stack.file_hash}
        (self.folder / RECORD).write_text(json.dumps(record, indent=2) + "\n")

    def _write(self) -> list[str]:
        """What `stapel render compose` writes: the monitoring config and the one-shots' files, then compose.yaml and
        .env.compose (0600), each of these two replaced whole; the changes name which of them differ."""
        self.folder.mkdir(parents=True, exist_ok=True)
        compose.write_support_files(self.stack, self.folder)
        changes = []
        for name, text in (("compose.yaml", self.text), (".env.compose", self.secrets)):
            path = self.folder / name
            try:
                if path.read_text() == text:
                    continue
            except OSError:
                pass
            temporary = path.with_name(f".{name}.tmp")
            write_private(temporary, text)
            if name == "compose.yaml":
                os.chmod(temporary, 0o644)
            os.replace(temporary, path)
            changes.append(f"wrote {_short(path, self.stack.root)}")
        return changes

    def _rollback(self) -> None:
        """Stop what this run started; containers that were running before it stay."""
        if self.before is None:
            return
        try:
            now = self.project.states()
            started = [n for n in self.expected if n in now and now[n].state in ("running", "restarting", "created")
                       and (n not in self.before or self.before[n].state != "running")]
            if started:
                self.say(f"  rolling back: stopping {', '.join(started)}")
                self.project.stop(started)
            self.states = self.project.states()
        except (StapelError, OSError):
            pass

    def _report(self) -> dict[str, dict[str, Any]]:
        report = {}
        for name, node in self.stack.nodes.items():
            container = self.states.get(name)
            has_check = "healthcheck" in self.doc["services"].get(name, {})
            if container is None:
                health = "not running"
            elif container.state == "exited" and container.exit_code == 0:
                health = "completed"
            else:
                health = "healthy" if container.ready(has_check) else "unhealthy"
            report[name] = {"role": "service" if node.is_service else "component", "kind": node.kind,
                            "endpoint": self.stack.endpoint(node), "state": container.state if container else "not running",
                            "health": health, "pid": None,
                            "detail": f"container {container.name}: {container.describe()}" if container else ""}
        return report


def _short(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
