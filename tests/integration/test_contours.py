"""Contours side by side with real processes: dev and stage of examples/minimal at once, secrets that never
reach a file under .local or any output, and numbered slots of one contour."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import copy_example, processes_under, stapel, status, traversable_dir

from stapel import envdoc

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def both():
    base = traversable_dir("contours")
    root = copy_example("minimal", base)
    outputs: list[str] = []

    def run(*args: str, timeout: float = 300) -> str:
        done = stapel(root, *args, timeout=timeout)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, f"stapel {' '.join(args)}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run("env", "sync", "--non-interactive")
    run("up")
    run("--contour", "stage", "up")
    yield root, run, outputs
    for contour in ("dev", "stage"):
        stapel(root, "--contour", contour, "down", "--volumes", "--yes", timeout=120)
    leftovers = processes_under(root)
    for proc in leftovers:
        proc.kill()
    shutil.rmtree(base, ignore_errors=True)
    assert not leftovers


def secrets_of(root: Path) -> dict[str, str]:
    values = {}
    for name in (".env", ".env.stage"):
        for key, value in envdoc.read(root / name).items():
            values[f"{name}:{key}"] = value
    return values


def test_sync_generated_every_secret_distinct_per_contour(both) -> None:
    root, _, _ = both
    values = secrets_of(root)
    assert sorted(values) == sorted(f"{f}:{k}" for f in (".env", ".env.stage") for k in ("DB_PASSWORD", "CACHE_PASSWORD", "MQ_PASSWORD"))
    assert all(len(v) == 32 for v in values.values())
    assert len(set(values.values())) == 6
    assert all(c in "0123456789abcdef" for k, v in values.items() if k.endswith("CACHE_PASSWORD") for c in v)
    assert oct((root / ".env.stage").stat().st_mode & 0o777) == "0o600"


def test_dev_and_stage_are_both_healthy_on_their_own_ports(both) -> None:
    root, run, _ = both
    dev = status(root)
    stage_out = stapel(root, "--contour", "stage", "status", "--json", check=True).stdout
    import json

    stage = {n["name"]: n for n in json.loads(stage_out)["nodes"]}
    assert {n["state"] for n in dev.values()} == {"running"} and {n["state"] for n in stage.values()} == {"running"}
    dev_ports = {n["endpoint"] for n in dev.values()}
    stage_ports = {n["endpoint"] for n in stage.values()}
    assert not dev_ports & stage_ports
    assert stage["db"]["endpoint"] == "127.0.0.1:5532" and stage["api"]["endpoint"] == "127.0.0.1:8100"
    run("check")
    run("--contour", "stage", "check")


def test_a_changed_contour_env_file_is_an_input_of_the_fast_path(both) -> None:
    import json

    root, _, _ = both
    assert json.loads(stapel(root, "--contour", "stage", "up", "--json").stdout)["steps"][0]["message"] == "inputs unchanged since the last up"
    original = (root / ".env.stage").read_text()
    (root / ".env.stage").write_text(original + "UNRELATED_SETTING=1\n")
    try:
        summary = json.loads(stapel(root, "--contour", "stage", "up", "--json").stdout)
    finally:
        (root / ".env.stage").write_text(original)
    assert summary["steps"][0]["message"] != "inputs unchanged since the last up" and summary["changed"] is False
    assert stapel(root, "--contour", "stage", "up").returncode == 0


def test_nothing_is_shared_on_disk_or_in_names(both) -> None:
    root, _, _ = both
    local = root / ".local"
    assert (local / "data/dev/db/PG_VERSION").is_file()
    assert (local / "data/stage/pgdata_stage/PG_VERSION").is_file()  # contours.stage.volumes
    for folder in ("run", "logs", "state"):
        assert (local / folder / "dev").is_dir() and (local / folder / "stage").is_dir()
    # RabbitMQ names its database folder after its node: one node name per contour
    nodes = {p.name for c in ("dev", "stage") for p in (local / "data" / c / "mq" / "mnesia").glob("*@localhost")}
    assert nodes == {"stapel-minimal-dev-mq@localhost", "stapel-minimal-stage-mq@localhost"}


def test_no_secret_in_any_file_under_local_or_in_any_output(both) -> None:
    root, run, outputs = both
    run("config")
    run("--contour", "stage", "config")
    run("logs", "api", "-n", "200")
    secrets = secrets_of(root)
    hits = []
    for path in (root / ".local").rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            hits += [f"{path.relative_to(root)}: {key}" for key, value in secrets.items() if value.encode() in data]
    for text in outputs:
        hits += [f"output: {key}" for key, value in secrets.items() if value in text]
    assert hits == []


def test_stage_refuses_a_weak_password_before_starting_anything(both) -> None:
    root, _, _ = both
    weak = root.parent / "weak"
    shutil.copytree(root, weak, ignore=shutil.ignore_patterns(".local"))
    env_stage = (weak / ".env.stage").read_text().splitlines()
    (weak / ".env.stage").write_text("\n".join(("MQ_PASSWORD=guest" if line.startswith("MQ_PASSWORD=") else line) for line in env_stage) + "\n")
    done = stapel(weak, "--contour", "stage", "up")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0].startswith(
        "stapel: error: stapel.yaml:38: components.mq.password: the well-known password 'guest' is refused in contour 'stage'")
    assert not (weak / ".local").exists() and processes_under(weak) == []


def test_slots_are_numbered_copies_side_by_side(tmp_path_factory) -> None:
    base = traversable_dir("slots")
    (base / "stapel.yaml").write_text("name: slots\ncomponents:\n  cache:\n    kind: redis\n")
    try:
        for slot in ("0", "1"):
            assert stapel(base, "--slot", slot, "up").returncode == 0
        first = stapel(base, "--slot", "0", "status", "--json", check=True).stdout
        second = stapel(base, "--slot", "1", "status", "--json", check=True).stdout
        assert first != second
        assert (base / ".local/run/dev-slot0").is_dir() and (base / ".local/run/dev-slot1").is_dir()
        assert stapel(base, "--slot", "1", "check").returncode == 0
    finally:
        for slot in ("0", "1"):
            stapel(base, "--slot", slot, "down", "--volumes", "--yes", timeout=60)
        left = processes_under(base)
        for proc in left:
            proc.kill()
        shutil.rmtree(base, ignore_errors=True)
    assert not left
