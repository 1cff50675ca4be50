"""`stapel up`, the one pipeline for every runtime: lock -> run log -> preflight -> the runtime's steps -> verify ->
record, each step logged and summarised; any failure rolls back what this run started.

What happens between preflight and verify is the runtime's (plugged in by `steps_for`): native and fake start each
node themselves (up_processes.py: start -> wait -> provision -> migrate -> seed -> services); compose renders the
project and hands it to the compose CLI (up_compose.py: render -> compose-up -> wait).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from stapel.engine.lock import stack_lock
from stapel.engine.options import UpOptions
from stapel.engine.runlog import RunLog, StepRecord
from stapel.engine.stack import Stack
from stapel.errors import PreflightError, StapelError


@dataclass
class UpResult:
    summary: dict[str, Any]
    run_dir: str
    changed: bool
    notes: list[str] = field(default_factory=list)


class Steps(Protocol):
    """What one runtime plugs into the pipeline."""

    def before(self) -> None:
        """Checks before the lock and the run log: a refusal here leaves nothing behind."""

    def select(self) -> None:
        """What this run brings up (--service, --profile, --skip-backend), before its first step."""

    def preflight(self, step: StepRecord) -> None:
        """The runtime's part of preflight, after the common one (.env examples, .gitignore): what cannot run is
        refused here, before anything starts."""

    def steps(self) -> list[tuple[str, Callable[[StepRecord], None]]]:
        """The named steps between preflight and verify, in order."""

    def verify(self, step: StepRecord) -> None:
        """Everything selected once more; raises when something is not healthy."""

    def save(self) -> None:
        """After a successful run: the record later commands (and the next up) read."""

    def rollback(self) -> None:
        """After a failure: stop what this run started, nothing else."""

    def report(self) -> dict[str, dict[str, Any]]:
        """Each node's role, kind, endpoint, state, health, pid and detail for the summary."""


def steps_for(up: Up) -> Steps:
    """A runtime that runs each node itself gets the process steps; compose, which hands the whole project to
    the compose CLI, its own."""
    if up.runtime.name == "compose":
        from stapel.engine.up_compose import ComposeSteps

        return ComposeSteps(up)
    from stapel.engine.up_processes import ProcessSteps

    return ProcessSteps(up)


class Up:
    def __init__(self, stack: Stack, runtime: Any, options: UpOptions, say: Callable[[str], None], started: float | None = None):
        self.stack, self.runtime, self.options = stack, runtime, options
        self.mask = stack.masker()
        self.say = lambda text: say(self.mask(text))
        self.cancel = threading.Event()
        self.started_at = started
        self.log: RunLog | None = None
        self.env_examples: list[str] = []  # the .env examples preflight compared: inputs of the no-op path
        self.plan = steps_for(self)

    def run(self) -> UpResult:
        """The steps under the stack's lock (a refused run touches nothing and writes no summary). Any failure,
        a bug or Ctrl-C included, stops what this run started before it surfaces."""
        self.plan.before()
        with stack_lock(self.stack.paths, "up"):
            ensure_local(self.stack.paths)
            self.log = RunLog(self.stack.paths, "up", self.stack.name, self.runtime.name, self.stack.file, self.mask,
                              started=self.started_at)
            outcome, error = "failed", None
            try:
                self._steps()
                self.plan.save()
                outcome = "ok"
            except BaseException as exc:
                if isinstance(exc, StapelError):  # what another program said (the compose CLI) is printed: mask it
                    exc.message, exc.problems = self.mask(exc.message), [self.mask(p) for p in exc.problems]
                outcome, error = _ending(exc)
                self.cancel.set()
                self.plan.rollback()
                raise
            finally:
                summary = self.log.finish(outcome, error, self.plan.report())
        return UpResult(summary, str(self.log.dir), self.log.changed)

    def _steps(self) -> None:
        self.plan.select()
        with self.step("preflight") as step:
            self.env_examples = warn_unsynced(self.stack, step, self.say)
            keep_local_out_of_git(self.stack, step, self.say)
            self.plan.preflight(step)
        for name, body in self.plan.steps():
            with self.step(name) as step:
                body(step)
        with self.step("verify") as step:
            self.plan.verify(step)

    def step(self, name: str) -> _StepContext:
        assert self.log is not None
        return _StepContext(self.log.step(name), self.say)


def warn_unsynced(stack: Any, step: StepRecord, say: Callable[[str], None]) -> list[str]:
    """A warning (said and logged; the up goes on) per .env lacking keys its example has; the examples' paths."""
    from stapel.env.check import unsynced

    warnings, examples = unsynced(stack.file)
    for warning in warnings:
        step.log(f"warning: {warning}")
        say(f"  warning: {warning}")
    return [str(p) for p in examples]


def keep_local_out_of_git(stack: Any, step: StepRecord, say: Callable[[str], None]) -> None:
    """.local/ (data, logs, generated configs) into the project's .gitignore when git would track it."""
    from stapel.gitignore import keep_out_of_git

    for note in keep_out_of_git([], stack.root, (stack.paths.local,)):
        step.log(note)
        say(f"  {note}")


def ensure_local(paths: Any) -> None:
    """.local must be a writable directory before a run can even keep its log."""
    for folder in (paths.run, paths.bootstrap_logs, paths.logs):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PreflightError(f"{folder}: cannot create: {exc.strerror}",
                                 hint="stapel keeps data, logs and pids under .local/ in the project; make it a writable directory") from None


def _ending(exc: BaseException) -> tuple[str, str]:
    """The summary's outcome and error for what stopped the run."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", "interrupted by Ctrl-C"
    if isinstance(exc, StapelError):
        return "failed", "; ".join(exc.lines()[:1])
    return "failed", f"a bug in stapel: {type(exc).__name__}: {exc}"


FAULT_VARIABLE = "STAPEL_TEST_FAULT"  # tests only: a step's name; that step raises an unexpected error at its start


class _StepContext:
    def __init__(self, record: StepRecord, say: Callable[[str], None]):
        self.record, self.say = record, say

    def __enter__(self) -> StepRecord:
        self.say(f"» {self.record.name}")
        if os.environ.get(FAULT_VARIABLE) == self.record.name:
            fault = RuntimeError(f"fault injected at the start of step {self.record.name} (${FAULT_VARIABLE})")
            self.__exit__(RuntimeError, fault, None)
            raise fault
        return self.record

    def __exit__(self, exc_type, exc, tb) -> None:  # never swallows the exception
        self.record.duration = time.monotonic() - self.record.started
        if exc is not None:
            self.record.status = "failed"
            self.record.message = str(exc) if not isinstance(exc, KeyboardInterrupt) else "interrupted"
            lines = exc.lines() if isinstance(exc, StapelError) else [self.record.message]
            for line in lines:
                self.record.log(line)
        elif self.record.status != "skipped" and self.record.changes:
            self.record.status = "changed"
