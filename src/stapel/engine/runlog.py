"""A run's log: steps/NN_<step>.log, summary.md and summary.json under .local/logs/bootstrap/run-<timestamp>/.

summary.json (schema 1):
  command, stack, contour, runtime, file, started_at (ISO, UTC), duration_seconds,
  outcome: ok | failed | interrupted, changed: bool, error: str | null,
  steps: [{index, name, status: ok|changed|skipped|failed, duration_seconds, message, changes: [str], log}],
  nodes: {name: {role: component|service, kind, endpoint, state, health: healthy|unhealthy|not running|skipped, detail, pid}}
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stapel.paths import Paths


@dataclass
class StepRecord:
    index: int
    name: str
    log_path: Path
    mask: Callable[[str], str]
    status: str = "ok"
    message: str = ""
    changes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    duration: float = 0.0

    def log(self, text: str, at: datetime | None = None) -> None:
        """One line, stamped now (or `at`: a line said earlier by work this step collects)."""
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"{(at or datetime.now()).strftime('%H:%M:%S.%f')[:-3]} {self.mask(text)}\n")

    def changed(self, what: str) -> None:
        self.changes.append(self.mask(what))
        self.log(f"changed: {what}")

    def skip(self, why: str) -> None:
        self.status, self.message = "skipped", why
        self.log(f"skipped: {why}")

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "status": self.status, "duration_seconds": round(self.duration, 3),
                "message": self.mask(self.message), "changes": self.changes, "log": f"steps/{self.log_path.name}"}


class RunLog:
    def __init__(self, paths: Paths, command: str, stack_name: str, runtime: str, file: Path, mask: Callable[[str], str],
                 started: float | None = None):
        """`started`: time.monotonic() when the command began, so the summary counts its start-up too."""
        self.mask = mask
        self.started_wall = datetime.now(UTC)
        self.started = started or time.monotonic()
        base = paths.bootstrap_logs / f"run-{self.started_wall.strftime('%Y%m%d-%H%M%S')}"
        self.dir, n = base, 1
        while True:
            try:
                (self.dir / "steps").mkdir(parents=True, exist_ok=False)
                break
            except FileExistsError:
                n += 1
                self.dir = base.with_name(f"{base.name}-{n}")
        self.steps: list[StepRecord] = []
        self.meta = {"command": command, "stack": stack_name, "contour": paths.contour, "runtime": runtime, "file": str(file)}
        self.paths = paths

    def step(self, name: str) -> StepRecord:
        record = StepRecord(len(self.steps) + 1, name, self.dir / "steps" / f"{len(self.steps) + 1:02d}_{name}.log", self.mask)
        record.log_path.touch()
        self.steps.append(record)
        return record

    @property
    def changed(self) -> bool:
        return any(s.changes for s in self.steps)

    def finish(self, outcome: str, error: str | None, nodes: dict[str, dict[str, Any]]) -> dict[str, Any]:
        summary = {
            "schema": 1, **self.meta, "started_at": self.started_wall.isoformat(timespec="seconds"),
            "duration_seconds": round(time.monotonic() - self.started, 3), "outcome": outcome, "changed": self.changed,
            "error": self.mask(error) if error else None, "steps": [s.to_json() for s in self.steps], "nodes": nodes,
        }
        (self.dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        (self.dir / "summary.md").write_text(render_markdown(summary))
        latest = self.paths.bootstrap_logs / "latest"
        try:
            latest.unlink(missing_ok=True)
            os.symlink(self.dir.name, latest)
        except OSError:
            pass
        return summary


def render_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# stapel {summary['command']}: {summary['outcome']}",
        "",
        f"- stack: `{summary['stack']}`, contour `{summary['contour']}`, runtime `{summary['runtime']}`",
        f"- started {summary['started_at']}, took {summary['duration_seconds']:.2f} s",
        f"- changed anything: {'yes' if summary['changed'] else 'no'}",
    ]
    if summary["error"]:
        lines.append(f"- error: {summary['error']}")
    lines += ["", "## Steps", "", "| # | step | status | seconds | changes |", "|---|---|---|---|---|"]
    for step in summary["steps"]:
        changes = "; ".join(step["changes"]) or step["message"] or ""
        lines.append(f"| {step['index']} | {step['name']} | {step['status']} | {step['duration_seconds']:.2f} | {changes} |")
    lines += ["", "## Components and services", "", "| name | kind | endpoint | state | health |", "|---|---|---|---|---|"]
    for name, node in summary["nodes"].items():
        lines.append(f"| {name} | {node['kind']} | {node['endpoint']} | {node['state']} | {node['health']} |")
    return "\n".join(lines) + "\n"
