"""The steps of `up` under --runtime compose: preflight asks for the compose CLI and the engine (and refuses when the
contour already runs natively); render writes .local/compose/<instance>/ (each file replaced whole); compose-up runs
`up -d` (v2: `--wait`); wait polls the containers' health under v1 (v2's --wait already did); verify reads them once
more for the report. A failure after compose-up stops what this run started (containers that already ran stay).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stapel import runtimes
from stapel.engine.runlog import StepRecord
from stapel.errors import PreflightError, StapelError, StartError
from stapel.private import write_private
from stapel.render import compose, images
from stapel.runtimes.compose import RECORD, Project, all_profiles, budget, detect, not_ready
from stapel.runtimes.compose_project import selection


class ComposeSteps:
    def __init__(self, up: Any):
        self.stack, self.options, self.say = up.stack, up.options, up.say
        self.folder = up.runtime.folder
        self.project: Any = None
        self.before_up: dict[str, Any] | None = None  # the containers before compose-up: rollback keeps those
        self.states: dict[str, Any] = {}
        self.doc: dict[str, Any] = {"services": {}}
        self.expected: list[str] = []

    # --- what the pipeline asks ------------------------------------------------------------
    def before(self) -> None:
        """Everything the renderer refuses is refused here, before the engine is asked or a file is written."""
        for flag in ("skip_migrations", "skip_seeds"):
            if getattr(self.options, flag):
                raise StapelError(f"--{flag.replace('_', '-')}: native only", hint="drop it, or drop --runtime compose")
        self.tag = images.git_tag(self.stack.root)
        images.check_tags(self.stack, self.tag, lambda text: self.say(f"warning: {text}"))
        self.doc, refs = compose.build(self.stack, self.folder, self.tag)
        self.text, self.secrets = compose.document_text(self.stack, self.doc), compose.env_text(self.stack, refs)
        self.profiles, self.named, self.expected = selection(self.doc, self.options.services, self.options.skip_backend,
                                                            self.options.profiles)

    def select(self) -> None:
        """Chosen in before(): on the rendered file, which adds exporters and one-shot jobs to the stack's nodes."""

    def preflight(self, step: StepRecord) -> None:
        if runtimes.at(self.stack.paths, "native").active():
            raise PreflightError(f"contour '{self.stack.instance}' runs natively (stapel status shows it)",
                                 hint="stop it first with stapel down, then run stapel --runtime compose up")
        engine = detect()
        step.log(f"{engine.label} ({' '.join(engine.base)})")
        building = {n.name for n in self.stack.services() if n.name in self.expected}
        missing = [line for line in images.missing_dockerfiles(self.stack) if any(line.startswith(f"services.{n}:") for n in building)]
        if missing:  # what `compose up` would otherwise fail on half-way, after pulling the images
            raise PreflightError(missing[0], hint="or leave the services out: --skip-backend", problems=missing[1:])
        self.project = Project(engine, self.folder, f"{self.stack.name}-{self.stack.instance}", all_profiles(self.doc), step.log)

    def steps(self) -> list[tuple[str, Callable[[StepRecord], None]]]:
        return [("render", self.render), ("compose-up", self.compose_up), ("wait", self.wait)]

    def render(self, step: StepRecord) -> None:
        for change in self._write():
            step.changed(change)

    def compose_up(self, step: StepRecord) -> None:
        self.project.log = step.log
        self.before_up = self.project.states()
        (self.folder / RECORD).unlink(missing_ok=True)  # until this up is through, no up of this project is on record
        self.project.up(self.profiles, self.named)
        after = self.project.states()
        for name in self.expected:
            was, now = self.before_up.get(name), after.get(name)
            if now is not None and (was is None or was.id != now.id):
                step.changed(f"{'created' if was is None else 'recreated'} {name}")
            elif now is not None and was is not None and was.state != "running" and now.state == "running":
                step.changed(f"started {name}")
        for change in step.changes:
            self.say(f"  {change}")

    def _checks(self) -> dict[str, bool]:
        return {n: "healthcheck" in self.doc["services"][n] for n in self.expected}

    def wait(self, step: StepRecord) -> None:
        self.project.log = step.log
        if self.project.engine.v2:
            step.skip("docker compose up --wait waited for health")
            return
        services = self.doc["services"]
        self.project.wait(self._checks(), max([30.0] + [budget(services[n].get("healthcheck")) for n in self.expected]))

    def verify(self, step: StepRecord) -> None:
        self.project.log = step.log
        self.states = self.project.states()
        for name in self.expected:
            step.log(f"{name}: {self.states[name].describe() if name in self.states else 'no container'}")
        bad = not_ready(self.states, self._checks(), "verify")
        if bad:
            raise StartError(f"verify: not ready: {bad[0][0]}: {bad[0][1]}", problems=[f"{n}: {s}" for n, s in bad[1:]])

    def save(self) -> None:
        record = {"project": self.project.name, "profiles": self.profiles, "services": self._checks(), "file_hash": self.stack.file_hash}
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

    def rollback(self) -> None:
        """Stop what this run started; containers that were running before it stay."""
        if self.before_up is None:
            return
        try:
            now = self.project.states()
            started = [n for n in self.expected if n in now and now[n].state in ("running", "restarting", "created")
                       and (n not in self.before_up or self.before_up[n].state != "running")]
            if started:
                self.say(f"  rolling back: stopping {', '.join(started)}")
                self.project.stop(started)
            self.states = self.project.states()
        except (StapelError, OSError):
            pass

    def report(self) -> dict[str, dict[str, Any]]:
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
