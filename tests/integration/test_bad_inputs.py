"""Bad inputs that fail only once real servers run (a broken migration or seed, a service that cannot start or never
gets healthy, a server that refuses its arguments): one error line naming the file or node (a process that died is
followed by the tail of its log, indented), exit 1, and everything
the run started stopped again (no process left under the project). The fast cases are in tests/unit/test_bad_inputs.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import processes_under, stapel, stop_and_clean, traversable_dir

PG = "components:\n  db: {kind: postgres}\n"
REDIS = "components:\n  cache: {kind: redis}\n"


@dataclass
class Case:
    id: str
    files: dict[str, str]
    pattern: str  # the one error line, without "stapel: error: "
    args: tuple[str, ...] = ("up",)


def _service(body: str, deps: str = "[db]") -> str:
    return f"services:\n  api:\n    command: python3 -m http.server 0 --bind 127.0.0.1\n    depends_on: {deps}\n{body}"


CASES = [
    Case("migration-syntax-error", {"stapel.yaml": PG + _service("    migrations: {dir: migrations}\n"),
                                    "migrations/00001_init.sql": "-- +goose Up\nCREATE TABLE users (id int);\n",
                                    "migrations/00002_broken.sql": "-- +goose Up\nCREATE TABLEE orders (id int);\n"},
         r"00002_broken\.sql.*(syntax error|TABLEE)"),
    Case("seed-syntax-error", {"stapel.yaml": PG + _service("    seeds: [seeds/*.sql]\n"), "seeds/01.sql": "INSERTT INTO nowhere VALUES (1);\n"},
         r"seeds/01\.sql.*(syntax error|INSERTT)"),
    Case("seed-file-missing", {"stapel.yaml": PG + _service("    seeds: [seeds/nope.sql]\n")}, r"seeds/nope\.sql"),
    Case("service-command-not-found", {"stapel.yaml": REDIS + "services:\n  api: {command: no-such-program-xyz --serve, depends_on: [cache]}\n"},
         r"api.*no-such-program-xyz"),
    Case("service-exits-at-once", {"stapel.yaml": REDIS + "services:\n  api:\n    command: python3 -c 'raise SystemExit(3)'\n    port: 18999\n"
                                   "    depends_on: [cache]\n    probe: {tcp: {}, failure_threshold: 50, period_seconds: 0.1}\n"},
         r"api.*(exit|exited|died|code 3)"),
    Case("service-never-healthy", {"stapel.yaml": REDIS + "services:\n  api:\n    command: python3 -m http.server 18998 --bind 127.0.0.1\n    port: 18998\n"
                                   "    depends_on: [cache]\n    probe: {http: {path: /nope, status: 200}, period_seconds: 0.1, failure_threshold: 20}\n"},
         r"api.*(healthy|probe|404)"),
    Case("migration-without-annotation", {"stapel.yaml": PG + _service("    migrations: {dir: migrations}\n"),
                                         "migrations/00001_init.sql": "CREATE TABLE users (id int);\n"},
         r"00001_init\.sql.*goose Up"),
    Case("python-seed-raises", {"stapel.yaml": PG + _service("    seeds: ['app.seed:load']\n"), "app/__init__.py": "",
                                "app/seed.py": "def load():\n    raise RuntimeError('the seed broke')\n"},
         r"app\.seed:load.*(the seed broke|RuntimeError)"),
    Case("python-seed-missing-function", {"stapel.yaml": PG + _service("    seeds: ['app.seed:nope']\n"), "app/__init__.py": "",
                                          "app/seed.py": "def load():\n    pass\n"},
         r"app\.seed:nope"),
    Case("redis-refuses-its-arguments", {"stapel.yaml": "components:\n  cache: {kind: redis, args: [--no-such-option, '1']}\n"},
         r"cache.*(no-such-option|Bad directive|exited|FATAL)"),
]


def test_a_busy_fixed_port_refuses_before_starting_anything(folder: Path) -> None:
    """Outside dev ports are fixed: one held by a foreign process is one preflight line, and nothing starts."""
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        (folder / "stapel.yaml").write_text(f"contour: stage\ncontours:\n  stage: {{weak_credentials: allow}}\n"
                                            f"components:\n  cache: {{kind: redis, port: {port}}}\n")
        done = stapel(folder, "up", timeout=60)
    finally:
        holder.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.fullmatch(rf"stapel: error: components\.cache\.port: port {port} is busy \(held by .*\); choose a free port there, "
                        r"or set contours\.stage\.ports: auto.*\n", done.stderr), done.stderr
    assert not processes_under(folder)
    assert not (folder / ".local" / "data").exists()


@pytest.fixture
def folder():
    path = traversable_dir("bad")
    yield path
    for crash in (path / ".local" / "logs").glob("crash-*.log"):  # kept for the report: the folder is deleted below
        print(crash.read_text())
    leftovers = stop_and_clean(path)
    assert not leftovers, f"processes left running: {leftovers}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_after_start(case: Case, folder: Path) -> None:
    for name, body in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(body)
    done = stapel(folder, *case.args, timeout=120)
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stdout + done.stderr
    assert errors and errors[0].startswith("stapel: error: "), done.stderr
    assert all(line.startswith("    | ") for line in errors[1:]), done.stderr  # only the failed process's log tail follows
    assert re.search(case.pattern, errors[0]), errors[0]
    running = [" ".join(p.info["cmdline"] or []) for p in processes_under(folder)]
    assert not running, running  # rolled back: what this run started is stopped, the supervisor too
