"""The `provision` step of a process runtime's `up`, begun early: each component is provisioned on a worker thread as
soon as its probe passes, so that what is left once the slowest component (RabbitMQ's boot) is healthy is that
component's own provisioning. Components are independent of each other (a database here, users on a broker there).

The provision step then collects, in the components' order: each one's log lines (with the times they were said) and
changes go into that step's record, and the first failure (in that order) is raised there, as if the step had done
the work itself. A run that fails before the step waits for the work under way before it rolls back.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from stapel.engine.runlog import StepRecord

WORKERS = 4  # each mostly waits on a server's answer


class EarlyProvision:
    def __init__(self, stack: Any, names: list[str]):
        self.stack, self.names = stack, list(names)
        self.pool: ThreadPoolExecutor | None = None
        self.jobs: dict[str, Future] = {}
        self.lines: dict[str, list[tuple[datetime, str]]] = {}
        self.lock = threading.Lock()  # the waits of several components report at once

    def healthy(self, name: str) -> None:
        """`name` passed its probe: provision it now, unless that has begun already (or it is not ours to provision)."""
        with self.lock:
            if name not in self.names or name in self.jobs:
                return
            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="provision")
            self.jobs[name] = self.pool.submit(self._one, name)

    def _one(self, name: str) -> tuple[list[str], bool]:
        from stapel.provision.steps import run_one

        said = self.lines.setdefault(name, [])
        return run_one(self.stack, self.stack.nodes[name], lambda text: said.append((datetime.now(), text)))

    def collect(self, step: StepRecord) -> list[str] | None:
        """What every component's provisioning changed (None: nothing was declared and nothing changed); the ones not
        begun yet (not waited for by this run) run now. The first failure, in the components' order, is raised."""
        for name in self.names:
            self.healthy(name)
        changes: list[str] = []
        wanted = False
        try:
            for name in self.names:
                failure = self.jobs[name].exception()
                for at, text in self.lines.get(name, []):
                    step.log(text, at=at)
                if failure is not None:
                    raise failure
                done, declared = self.jobs[name].result()
                changes += done
                wanted = wanted or declared
        finally:
            self.close()
        return changes if changes or wanted else None

    def close(self) -> None:
        """Wait for the work under way (a rollback must not stop a server a worker still talks to); drop the rest."""
        with self.lock:
            pool, self.pool, self.names = self.pool, None, []  # nothing new begins after this
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
