#!/usr/bin/env python3
"""Boot time (issue 16): cold `stapel up` against a stock RabbitMQ booting alone, and PostgreSQL's part alone.

Measurements (medians over --reps repetitions, interleaved so drift hits every column alike):

1. cold `stapel up` of examples/minimal (a fresh copy, no .local) with PostgreSQL's template cluster cached (any
   project after the first on this machine), and with an empty cache (the very first project: initdb, and the
   template kept), vs RabbitMQ + management alone as benchmarks/bench.py starts it (spawn -> /api/overview 200).
   Goal of issue 16: cold <= 0.70x. And warm: `stapel down` (data kept), then `stapel up`; goal <= 0.65x. And, for
   reference, a cold `up --skip-backend`: the four servers without the api's own start (the stack of
   shared/research/boot.md's hand-built experiment, which had no service).
3. cold `stapel up` of a RabbitMQ-only stack from its private minimal home vs the stock layout.
2. cold `stapel up` of a PostgreSQL-only stack with the template cached vs with no usable cache (XDG_CACHE_HOME
   is a file: initdb every time, nothing kept), and the new-cluster time stapel notes in its run log for each.
4. a clean database per test (benchmarks/testing.py's sessions): stapel_db, on disk and in the tests-only tmpfs mode,
   vs pytest-postgresql's per-test database (goal of issue 16: tmpfs <= 0.25x); needs pytest-postgresql installed.

Every stack runs in a temp dir with its own cache ($XDG_CACHE_HOME; the user's own cache is never touched) and is
brought down with --volumes in a `finally`. Usage (from a checkout; stapel = this interpreter's `-m stapel`):
    PYTHONPATH=src .venv/bin/python benchmarks/boot.py [--reps 3 | --quick] [--json-out boot.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (
    RABBIT_BIN,
    REPO,
    T_DOWN,
    T_UP,
    BaselineRabbit,
    BenchError,
    as_installed,
    fmt_s,
    log,
    median,
    processes_under,
    run,
)

SLOT = 47  # x slot_stride 10: every port + 470
MQ_ONLY = "name: mqonly\ncomponents:\n  mq:\n    kind: rabbitmq\n"
PG_ONLY = "name: pgonly\ncomponents:\n  db:\n    kind: postgres\n    database: app\n    password: boot-bench-pw-0001\n"


class Project:
    """One stack folder with its own cache; `cold_up` removes its .local (down --volumes) first."""

    def __init__(self, folder: Path, env: dict[str, str], cache: Path):
        self.folder, self.env = folder, {**env, "XDG_CACHE_HOME": str(cache)}

    def stapel(self, *args: str, timeout: float = T_UP) -> tuple[float, subprocess.CompletedProcess]:
        # a slot of its own: ports far from the defaults other stacks on a shared machine take (a clash fails a run)
        return run([sys.executable, "-m", "stapel", "--slot", str(SLOT), *args], env=self.env, cwd=self.folder, timeout=timeout,
                   what=f"stapel {' '.join(args)} in {self.folder.name}")

    def cold_up(self, *flags: str) -> tuple[float, float | None]:
        """Wall time of a cold `up`, and the new-cluster time from its run log (None: no PostgreSQL note)."""
        self.down()
        took, _ = self.stapel("up", *flags)
        return took, self._cluster_seconds()

    def down(self) -> None:
        if (self.folder / ".local").exists():
            self.stapel("down", "--volumes", "--yes", timeout=T_DOWN)

    def _cluster_seconds(self) -> float | None:
        runs = sorted((self.folder / ".local/logs/bootstrap").glob("run-*"))  # every contour's runs: one slot here
        step = next((runs[-1] / "steps").glob("*start*"), None) if runs else None
        found = re.search(r"new cluster (?:copied from the template \S+|made by initdb) in (\d+\.\d+) s",
                          step.read_text() if step else "")
        return float(found.group(1)) if found else None


class Boot:
    def __init__(self, args: argparse.Namespace):
        self.reps = 1 if args.quick else args.reps
        self.keep = args.keep
        self.tmp = Path(tempfile.mkdtemp(prefix="stapel-boot-"))
        os.chmod(self.tmp, 0o755)  # servers that refuse root run as `postgres` and must traverse it
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.cache = self.tmp / "cache"  # the template cluster, made by an untimed first up
        self.no_cache = self.tmp / "no-cache"  # a file: no cache can be made under it
        self.no_cache.write_text("")
        self.projects: list[Project] = []
        self.baselines: list[BaselineRabbit] = []
        self.rows: list[dict[str, Any]] = []

    def project(self, name: str, source: Path | None, cache: Path, yaml: str = PG_ONLY) -> Project:
        folder = self.tmp / name
        if source is not None:
            shutil.copytree(source, folder, ignore=shutil.ignore_patterns(".local", ".env", ".env.*", "__pycache__"))
        else:
            folder.mkdir()
            (folder / "stapel.yaml").write_text(yaml)
        made = Project(folder, self.env, cache)
        self.projects.append(made)
        return made

    def minimal(self, example: Path) -> None:
        first = self.project("minimal-first", example, self.cache)
        log("[1] untimed first up (makes the template cluster)")
        first.cold_up()
        first.down()
        base_t, cached_t, empty_t, warm_t, infra_t = [], [], [], [], []
        for rep in range(self.reps):
            baseline = BaselineRabbit(self.tmp / f"baseline-rmq-{rep}", self.env, f"b{rep}")
            self.baselines.append(baseline)
            try:
                base_t.append(baseline.start_and_time())
            finally:
                baseline.stop()
            empty = self.project(f"minimal-empty-{rep}", example, self.tmp / f"empty-cache-{rep}")
            cached = self.project(f"minimal-cached-{rep}", example, self.cache)  # a fresh project, like `empty`

            def with_template(cached=cached) -> None:  # bound now: each rep measures its own projects
                cached_t.append(cached.cold_up()[0])
                cached.stapel("down", timeout=T_DOWN)  # data kept: the next up is warm
                warm_t.append(cached.stapel("up")[0])
                infra_t.append(cached.cold_up("--skip-backend")[0])  # the four servers alone, without the api's start
                cached.down()

            def without(empty=empty) -> None:
                empty_t.append(empty.cold_up()[0])
                empty.down()

            for measure in ((with_template, without) if rep % 2 == 0 else (without, with_template)):
                measure()  # the order alternates: whatever comes right after the baseline is not always the same
            log(f"[1] rep {rep + 1}/{self.reps}: RabbitMQ alone {base_t[-1]:.3f} s, cold up (template cached) "
                f"{cached_t[-1]:.3f} s, cold up (empty cache) {empty_t[-1]:.3f} s, warm up {warm_t[-1]:.3f} s, "
                f"cold up --skip-backend {infra_t[-1]:.3f} s")
        b = median(base_t)
        self.rows.append(row("cold up of examples/minimal, template cached", cached_t, base_t, median(cached_t) / b,
                             "<= 0.70x RabbitMQ alone", median(cached_t) / b <= 0.70))
        self.rows.append(row("cold up of examples/minimal, empty cache", empty_t, base_t, median(empty_t) / b,
                             "(reference: first project)", None))
        self.rows.append(row("warm up of examples/minimal (data kept)", warm_t, base_t, median(warm_t) / b,
                             "<= 0.65x RabbitMQ alone", median(warm_t) / b <= 0.65))
        self.rows.append(row("cold up --skip-backend of examples/minimal (no api)", infra_t, base_t, median(infra_t) / b,
                             "(reference: the servers alone)", None))

    def rabbitmq(self) -> None:
        """RabbitMQ alone under stapel: its private minimal home vs the stock layout (the user's own
        RABBITMQ_PLUGINS_DIR, set to the installed plugins, is what makes stapel keep the stock layout)."""
        plugins = Path(os.path.realpath(RABBIT_BIN / "rabbitmq-server")).parents[1] / "plugins"
        stock_yaml = MQ_ONLY + f"    env:\n      RABBITMQ_PLUGINS_DIR: {plugins}\n"
        minimal = self.project("mq-home", None, self.cache, MQ_ONLY)
        stock = self.project("mq-stock", None, self.cache, stock_yaml)
        home_t, stock_t = [], []
        for rep in range(self.reps):
            for project, times in ((minimal, home_t), (stock, stock_t)):
                times.append(project.cold_up()[0])
                project.down()
            log(f"[3] rep {rep + 1}/{self.reps}: RabbitMQ-only cold up {home_t[-1]:.3f} s (private home) vs "
                f"{stock_t[-1]:.3f} s (stock layout)")
        self.rows.append(row("cold up of a RabbitMQ-only stack: private home vs stock", home_t, stock_t,
                             median(home_t) / median(stock_t), "< 1 (faster)", median(home_t) < median(stock_t)))

    def postgres(self) -> None:
        cached = self.project("pg-cached", None, self.cache)
        bare = self.project("pg-no-cache", None, self.no_cache)
        cached.cold_up()
        cached.down()  # untimed: the template is certainly there
        up_c, up_n, new_c, new_n = [], [], [], []
        for rep in range(self.reps):
            for project, ups, news in ((cached, up_c, new_c), (bare, up_n, new_n)):
                took, cluster = project.cold_up()
                ups.append(took)
                news.append(cluster)
                project.down()
            log(f"[2] rep {rep + 1}/{self.reps}: cold up {up_c[-1]:.3f} s (template) vs {up_n[-1]:.3f} s (initdb); "
                f"new cluster {new_c[-1]} s vs {new_n[-1]} s")
        self.rows.append(row("cold up of a PostgreSQL-only stack: template vs initdb", up_c, up_n,
                             median(up_c) / median(up_n), "< 1 (faster)", median(up_c) < median(up_n)))
        clean_c, clean_n = [x for x in new_c if x is not None], [x for x in new_n if x is not None]
        if clean_c and clean_n:
            self.rows.append(row("new cluster (run log): template copy vs initdb", clean_c, clean_n,
                                 median(clean_c) / median(clean_n), "< 1 (faster)", median(clean_c) < median(clean_n)))

    def testing(self, tests: int) -> None:
        """4. A clean database per test: stapel_db (default, and the tests-only tmpfs mode) vs pytest-postgresql's
        `postgresql` fixture, as benchmarks/testing.py measures it (median per-test time of a session)."""
        import testing as tb

        if subprocess.run([sys.executable, "-c", "import pytest_postgresql"], capture_output=True).returncode != 0:
            log("[4] skipped: pytest-postgresql is not installed (pip install pytest-postgresql)")
            return
        bins, folder = tb.pg_bin(), self.tmp / "testing"
        folder.mkdir()
        tb.make_project(folder, bins)
        per_test: dict[str, list[float]] = {"stapel": [], "stapel-tmpfs": [], "pytest-postgresql": []}
        try:
            for rep in range(self.reps):
                for which in (per_test if rep % 2 == 0 else reversed(per_test)):
                    per_test[which].append(tb.session(folder, which, tests, bins, None)["per_test"])
                log(f"[4] rep {rep + 1}/{self.reps}: per test " + ", ".join(f"{w} {v[-1] * 1000:.1f} ms" for w, v in per_test.items()))
        finally:
            run([sys.executable, "-m", "stapel", "--slot", "80", "down", "--volumes", "--yes"], env=self.env, cwd=folder,
                timeout=T_DOWN, what="stapel --slot 80 down (testing)", check=False)
        base = per_test["pytest-postgresql"]
        for which, goal in (("stapel", "(reference: data on disk)"), ("stapel-tmpfs", "<= 0.25x pytest-postgresql")):
            ratio = median(per_test[which]) / median(base)
            self.rows.append(row(f"clean database per test, {which} vs pytest-postgresql", per_test[which], base, ratio,
                                 goal, ratio <= 0.25 if which == "stapel-tmpfs" else None))

    def cleanup(self) -> list[str]:
        problems = []
        for baseline in self.baselines:
            try:
                baseline.stop()
            except Exception as exc:
                problems.append(f"baseline stop: {exc}")
        for project in self.projects:
            try:
                project.down()
            except BenchError as exc:
                problems.append(str(exc))
        for pid, cmd in processes_under(self.tmp):
            problems.append(f"left running: pid {pid}: {cmd}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.keep:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems


def row(name: str, stapel_t: list[float], base_t: list[float], ratio: float, goal: str, met: bool | None) -> dict:
    return {"measurement": name, "reps": len(stapel_t), "stapel_median_s": median(stapel_t), "stapel_samples_s": stapel_t,
            "baseline_median_s": median(base_t), "baseline_samples_s": base_t, "ratio": ratio, "goal": goal, "met": met}


def table(rows: list[dict[str, Any]]) -> str:
    lines = [["measurement", "reps", "this", "against", "ratio", "goal", "met"]]
    for r in rows:
        met = "-" if r["met"] is None else ("yes" if r["met"] else "no")
        lines.append([r["measurement"], str(r["reps"]), fmt_s(r["stapel_median_s"]), fmt_s(r["baseline_median_s"]),
                      f"{r['ratio']:.2f}", r["goal"], met])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement (default 3)")
    parser.add_argument("--quick", action="store_true", help="one repetition")
    parser.add_argument("--only", choices=["minimal", "postgres", "rabbitmq", "testing"], help="one of the measurements")
    parser.add_argument("--tests", type=int, default=40, help="tests per pytest session in 4. (default 40)")
    parser.add_argument("--example", default=str(REPO / "examples" / "minimal"), help="stack to copy for 1.")
    parser.add_argument("--json-out", help="also write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) afterwards")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be >= 1")

    def on_term(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    as_installed()
    boot = Boot(args)
    log(f"working in {boot.tmp} ({boot.reps} rep(s))")
    error = None
    try:
        if args.only in (None, "postgres"):
            boot.postgres()
        if args.only in (None, "rabbitmq"):
            boot.rabbitmq()
        if args.only in (None, "minimal"):
            boot.minimal(Path(args.example))
        if args.only in (None, "testing"):
            boot.testing(args.tests)
    except BenchError as exc:
        error = str(exc)
    finally:
        problems = boot.cleanup()
    print(table(boot.rows))
    for text in ([f"ERROR: {error}"] if error else []) + [f"cleanup problem: {p}" for p in problems]:
        print(text)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"results": boot.rows, "error": error, "cleanup_problems": problems},
                                                  indent=2) + "\n")
    return 0 if error is None and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
