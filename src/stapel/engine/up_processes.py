"""The steps of `up` on a runtime that runs each node itself (native, fake): start the components level by level,
wait for their probes, provision inside them, migrate, seed, start and wait for the services; verify probes all."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path
from typing import Any

from stapel import probes
from stapel.components import kind_module
from stapel.components.base import LaunchSpec, Node
from stapel.engine import expected, ports, respec, selection
from stapel.engine.provisioning import EarlyProvision
from stapel.engine.runlog import StepRecord
from stapel.engine.wait import wait_for
from stapel.errors import PreflightError, StapelError
from stapel.model import graph

# Two cores: starting is CPU work (initdb, a server's boot), a few at a time; waiting is mostly sleeping
# between probes, so more, but never one thread per node (200 services are not 200 threads).
START_WORKERS = max(4, 2 * (os.cpu_count() or 1))
WAIT_WORKERS = 32


class ProcessSteps:
    def __init__(self, up: Any):
        self.up = up
        self.stack, self.runtime, self.options, self.say, self.cancel = up.stack, up.runtime, up.options, up.say, up.cancel
        self.specs: dict[str, LaunchSpec] = {}
        self.started: list[str] = []  # what this run started or restarted: rolled back on failure
        self.health: dict[str, tuple[bool, str]] = {}  # verify's answers, for the report
        self.resolved = False  # ports chosen by preflight: before that, probing a node could reach a stranger
        self.components: list[str] = []
        self.services: list[str] = []
        self.early: EarlyProvision | None = None  # provisioning begun as each component turns healthy

    # --- what the pipeline asks ------------------------------------------------------------
    def before(self) -> None:
        """Nothing to check before the lock: everything native is checked in preflight."""

    def select(self) -> None:
        self.services = selection.services(self.stack, self.options)
        self.components = selection.components(self.stack, self.options, self.services)

    def preflight(self, step: StepRecord) -> None:
        self.check_inputs(step, self.components, self.services)
        self.resolve(step, self.components + self.services)
        self.early = self._early_provision()

    def _early_provision(self) -> EarlyProvision | None:
        """On a runtime with servers to talk to, each component is provisioned once healthy (what cannot be is
        refused here, before anything starts)."""
        from stapel.provision.steps import check

        if not getattr(self.runtime, "runs_servers", True):
            return None
        check(self.stack, [self.stack.nodes[n] for n in self.components])
        return EarlyProvision(self.stack, self.components)

    def steps(self) -> list[tuple[str, Callable[[StepRecord], None]]]:
        return [("start", lambda step: self.start_levels(step, self.components)),
                ("wait", lambda step: self.wait_all(step, self.components)),
                ("provision", lambda step: self.provision(step, self.components)),
                ("migrate", lambda step: self.per_service(step, "migrations", self.services, self.options.skip_migrations)),
                ("seed", lambda step: self.per_service(step, "seeds", self.services, self.options.skip_seeds)),
                ("services", self.start_services)]

    def start_services(self, step: StepRecord) -> None:
        if not self.services:
            step.skip(self._why_no_services())
            return
        self.start_levels(step, self.services)
        self.wait_all(step, self.services)

    def verify(self, step: StepRecord) -> None:
        self.verify_all(step, self.components + self.services)

    def save(self) -> None:
        names = self.components + self.services
        expected.save(self.stack, names, {n: self.specs[n].spec_hash for n in names if n in self.specs}, self._env_files(names),
                      self.options.to_json())

    def rollback(self) -> None:
        if self.early is not None:
            self.early.close()
        self._rollback()

    def report(self) -> dict[str, dict[str, Any]]:
        return self.node_report()

    # --- the steps -------------------------------------------------------------------------
    def _env_files(self, names: list[str]) -> list[str]:
        """Inputs besides stapel.yaml and .env: the contour's env files, AsyncAPI documents, the services'
        env_file, their migrations folders and seed files (a new migration is not a no-op)."""
        from stapel.components.service import cwd

        root, found = self.stack.root, {p.resolve() for p in [*self.stack.env_files, *map(Path, self.up.env_examples)]}
        found |= {(root / f).resolve() for n in self.stack.components() for f in kind_module(n.kind).input_files(n.config)}
        for node in self.stack.services():  # all: --skip-backend still migrates and seeds every service
            if node.name in names:
                found |= {(root / f).resolve() for f in node.config.env_file}
            folder = cwd(node, root)
            if node.config.migrations and node.config.migrations.dir:
                found.add((folder / node.config.migrations.dir).resolve())
            found |= {p.resolve() for entry in node.config.seeds for p in folder.glob(entry) if entry.endswith(".sql") or "*" in entry}
        return sorted(str(p) for p in found)

    def _why_no_services(self) -> str:
        if self.options.skip_backend:
            return "--skip-backend"
        if self.options.services is not None:
            return "--service names no service"
        if self.options.profiles is not None:
            return f"--profile {','.join(self.options.profiles)} selects no service"
        return "no services in stapel.yaml"

    def check_inputs(self, step: StepRecord, components: list[str], services: list[str]) -> None:
        """Every file this run reads (AsyncAPI, migrations, seeds), parsed before anything starts."""
        from stapel.engine import inputs

        targets = services if not self.options.skip_backend else [n.name for n in self.stack.services()]  # as per_service
        problems = inputs.problems(self.stack, components, targets, self.options.skip_migrations, self.options.skip_seeds)
        if problems:
            raise PreflightError(problems[0], problems=problems[1:])
        step.log("input files: parsed and checked")

    def resolve(self, step: StepRecord, names: list[str]) -> None:
        """Ports chosen (or found taken), each node's launch spec built: what cannot run is said before anything starts."""
        self.runtime.warm_up()
        running = {n: s for n, s in self.runtime.states().items() if s.get("state") == "running"}
        for note in ports.resolve(self.stack, self.runtime, running):
            step.log(note)
            self.say(f"  {note}")
        self.resolved = True
        problems = []
        for name in names:
            try:
                if self.stack.nodes[name].runs:  # an external component is only pointed at
                    self.specs[name] = self.runtime.launch(self.stack.nodes[name])
            except StapelError as exc:
                problems += exc.lines()
        if problems:
            raise PreflightError(problems[0], problems=problems[1:])
        for name in names:
            step.log(f"{name}: {' '.join(self.specs[name].argv)}" if name in self.specs else f"{name}: not run by stapel (external)")
        respec.remember_source(self.stack)  # a supervisor that re-adopts a process rebuilds its spec from there

    def provision(self, step: StepRecord, names: list[str]) -> None:
        """Databases, schemas, roles (and their passwords) inside the healthy components; each change listed."""
        from stapel.provision.steps import declared, run_all

        if not getattr(self.runtime, "runs_servers", True) and any(declared(self.stack, self.stack.nodes[n]) for n in names):
            step.skip(f"the {self.runtime.name} runtime runs no servers to provision")
            return
        changes = self.early.collect(step) if self.early else run_all(self.stack, [self.stack.nodes[n] for n in names], step.log)
        if changes is None:
            step.skip("nothing declared to provision")
        for change in changes or []:
            step.changed(change)
            self.say(f"  {change}")

    def per_service(self, step: StepRecord, what: str, services: list[str], skip: bool) -> None:
        """Migrations or seeds of the selected services (all of them with --skip-backend), dependencies first."""
        from stapel.migrate import steps

        if skip:
            step.skip(f"--skip-{'migrations' if what == 'migrations' else 'seeds'}")
            return
        targets = services if not self.options.skip_backend else [n.name for n in self.stack.services()]
        order = [n for level in graph.levels(self.stack.edges(), only=targets) for n in level]
        wanted = [self.stack.nodes[n] for n in order if getattr(self.stack.nodes[n].config, what)]
        if not wanted:
            step.skip(f"no service declares {what}")
            return
        for node in wanted:
            if self.cancel.is_set():
                raise KeyboardInterrupt
            done = steps.migrate(self.stack, node, step.log) if what == "migrations" else \
                steps.seed(self.stack, node, self.options.force_seeds, step.log)
            for change in done:
                step.changed(change)
                self.say(f"  {change}")

    def start_levels(self, step: StepRecord, names: list[str]) -> None:
        edges = self.stack.edges()
        for level in graph.levels(edges, only=names):
            self._start_level(step, level)
            # later levels start only once what they depend on meets its condition
            needs = {(dep, cond) for n in names for dep, cond in self.stack.nodes[n].depends_on.items() if dep in level}
            self._parallel([partial(self._wait_one, step, d, c) for d, c in sorted(needs)], WAIT_WORKERS)

    def _start_level(self, step: StepRecord, level: list[str]) -> None:
        """Each component as soon as it is prepared (initdb must not hold back RabbitMQ's long boot), a few at
        a time; the level's services, which need no preparing, all in one request."""
        nodes = [self.stack.nodes[name] for name in level]
        services = [n for n in nodes if n.is_service]
        jobs = [partial(self._start_batch, step, [n]) for n in nodes if not n.is_service and n.runs]
        if services:
            jobs.append(partial(self._start_batch, step, services))
        self._parallel(jobs, START_WORKERS)

    def _start_batch(self, step: StepRecord, nodes: list[Node]) -> None:
        for node in nodes:
            for note in self.runtime.prepare(node) or []:
                step.log(f"{node.name}: {note}")
        items = [(node, self.specs[node.name], {"kind": node.kind, "endpoint": self.stack.endpoint(node),
                                                "probe": probes.record(self.stack.probe(node))}) for node in nodes]
        began = time.time()
        try:
            states = self.runtime.start_many(items)
        except BaseException:
            self._started_anyway([n.name for n in nodes], began)
            raise
        for node, state in zip(nodes, states):
            if state.get("changed"):
                self.started.append(node.name)
                step.changed(f"started {node.name}")
                self.say(f"  started {node.name} ({node.kind}) on {self.stack.endpoint(node)}")
            else:
                step.log(f"{node.name}: already running, unchanged (pid {state.get('pid')})")

    def _started_anyway(self, level: list[str], since: float) -> None:
        """A start request that failed may have started part of its level: those are rolled back, too."""
        try:
            states = self.runtime.states()
        except (StapelError, OSError, ValueError):
            return
        self.started += [n for n in level if n not in self.started and (states.get(n, {}).get("started_at") or 0) >= since]

    def _wait_one(self, step: StepRecord, name: str, condition: str) -> None:
        node = self.stack.nodes[name]
        began = time.monotonic()
        detail = wait_for(self.runtime, node, self.stack.probe(node), condition, self.cancel, self.say)
        took = time.monotonic() - began
        step.log(f"{name}: {condition} after {took:.2f}s: {detail}")
        if condition == "healthy" and self.early is not None:
            self.early.healthy(name)
        if name in self.started:
            self.say(f"  {name} is {condition} ({took:.1f}s)")

    def wait_all(self, step: StepRecord, names: list[str]) -> None:
        self._parallel([partial(self._wait_one, step, n, self._final_condition(n)) for n in names], WAIT_WORKERS)

    def _final_condition(self, name: str) -> str:
        wanted = {c for n in self.stack.nodes.values() for d, c in n.depends_on.items() if d == name}
        if "completed" in wanted:
            return "completed"
        return "healthy"

    def verify_all(self, step: StepRecord, names: list[str]) -> None:
        """Everything once more, in parallel, after the services started; the report reuses these answers."""
        states = self.runtime.states()

        def one(name: str) -> tuple[str, bool, str]:
            node, state = self.stack.nodes[name], states.get(name, {}).get("state")
            if state == "completed":
                return name, True, "completed (exit 0)"
            probe = self.stack.probe(node)
            ok, detail = self.runtime.probe(node, probe) if probe else (state == "running", state or "not running")
            return name, ok, detail

        with ThreadPoolExecutor(max_workers=max(1, min(len(names), WAIT_WORKERS))) as pool:
            results = list(pool.map(one, names))
        bad = []
        for name, ok, detail in results:
            self.health[name] = (ok, detail)
            step.log(f"{name}: {'healthy' if ok else 'UNHEALTHY'}: {detail}")
            if not ok:
                bad.append(f"{name}: {detail}")
        if bad:
            from stapel.errors import StartError

            raise StartError(f"verify: not healthy: {bad[0]}", problems=bad[1:])

    def _parallel(self, jobs: Sequence[Callable[[], None]], workers: int) -> None:
        """Run jobs on at most `workers` threads; the first failure cancels the rest and is raised."""
        if not jobs:
            return
        if len(jobs) == 1:
            jobs[0]()
            return
        pool = ThreadPoolExecutor(max_workers=min(len(jobs), workers))
        try:
            futures = [pool.submit(job) for job in jobs]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                failure = future.exception()
                if failure is not None:
                    raise failure
        except BaseException:
            self.cancel.set()  # waits still running give up at once; queued jobs never start
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self.cancel.clear()

    def _rollback(self) -> None:
        """Nothing half-started: stop what this run started, dependants first."""
        if not self.started:
            self._shutdown_if_empty()
            return
        self.say(f"  rolling back: stopping {', '.join(self.started)}")
        for level in reversed(graph.levels(self.stack.edges(), only=self.started)):
            try:
                self.runtime.stop(level)
            except Exception:  # stop what else can be stopped; the first failure is what surfaces
                pass
        self._shutdown_if_empty()

    def _shutdown_if_empty(self) -> None:
        try:
            if not any(s.get("state") == "running" for s in self.runtime.states().values()):
                self.runtime.shutdown()
        except Exception:  # as above
            pass

    def _probe_now(self, node: Node) -> tuple[bool, str]:
        probe = self.stack.probe(node)
        try:
            return self.runtime.probe(node, probe) if probe else (True, "running")
        except Exception as exc:  # a probe bug while reporting another failure: report both
            return False, f"{type(exc).__name__}: {exc}"

    def node_report(self) -> dict[str, dict[str, Any]]:
        try:
            states = self.runtime.states()
        except Exception:  # the report of a failed run must not hide why it failed
            states = {}
        report = {}
        for name, node in self.stack.nodes.items():
            state = states.get(name, {})
            running = state.get("state") == "running"
            health, detail = "not running", ""
            if state.get("state") == "completed":
                health = "completed"
            elif running and (name in self.health or self.resolved):
                ok, detail = self.health.get(name) or self._probe_now(node)
                health = "healthy" if ok else "unhealthy"
            elif running:
                health = "not probed"
            if not node.runs:  # never started: its health is its probe's answer
                state = {"state": "external"}
                ok, detail = self.health.get(name) or (self._probe_now(node) if self.resolved else (False, "not probed"))
                health = "healthy" if ok else "unhealthy"
            report[name] = {"role": "service" if node.is_service else "component", "kind": node.kind,
                            "endpoint": self.stack.endpoint(node), "state": state.get("state", "not running"),
                            "health": health, "pid": state.get("pid"), "detail": detail}
        return report
