"""A service's named volumes (seed 002: the SQLite file of `at`; seed 003: app_data_<contour>): where each runtime
keeps them, the <NAME>_DIR the service gets, and the bad inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from stapel.cli.main import main
from stapel.engine.stack import open_stack
from stapel.render import compose, k8s_volumes
from stapel.render.inside import compose_ports, inside

STACK = """\
contours:
  dev: {}
  stage: {ports: 100, volumes: {worker.at: at_stage}}
services:
  worker:
    command: python3 -m http.server
    port: 8000
    env_prefix: WORKER_
    volumes: {at: /var/lib/worker/at, scratch-space: /tmp/scratch}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "stapel.yaml").write_text(STACK)
    return tmp_path


def test_natively_a_folder_under_local_data_named_by_the_contour(project: Path) -> None:
    dev = open_stack(project / "stapel.yaml", env={})
    env = dev.service_env(dev.nodes["worker"])
    assert env["AT_DIR"] == str(project / ".local" / "data" / "dev" / "worker.at")  # never under the env_prefix
    assert env["SCRATCH_SPACE_DIR"] == str(project / ".local" / "data" / "dev" / "worker.scratch-space")
    stage = open_stack(project / "stapel.yaml", contour="stage", env={})
    assert stage.service_env(stage.nodes["worker"])["AT_DIR"] == str(project / ".local" / "data" / "stage" / "at_stage")


def test_in_a_container_where_it_is_mounted(project: Path) -> None:
    stack = open_stack(project / "stapel.yaml", contour="stage", env={})
    network = inside(stack, str, compose_ports)
    assert network.service_env(network.nodes["worker"])["AT_DIR"] == "/var/lib/worker/at"
    doc, _ = compose.build(stack)
    scratch = f"{stack.name}_worker-scratch-space_stage"  # not renamed: <stack>_<service>-<volume>_<contour>
    assert doc["services"]["worker"]["volumes"] == ["at_stage:/var/lib/worker/at", f"{scratch}:/tmp/scratch"]
    assert doc["volumes"]["at_stage"] == {"name": "at_stage"} and doc["volumes"][scratch] == {"name": scratch}


def test_kubernetes_claims_mounts_and_a_replacing_rollout(project: Path) -> None:
    node = open_stack(project / "stapel.yaml", env={}).nodes["worker"]
    assert [c["metadata"]["name"] for c in k8s_volumes.claims(node, {})] == ["worker-at", "worker-scratch-space"]
    assert k8s_volumes.mounts(node) == [{"name": "at", "mountPath": "/var/lib/worker/at"},
                                        {"name": "scratch-space", "mountPath": "/tmp/scratch"}]
    assert k8s_volumes.strategy(node) == {"strategy": {"type": "Recreate"}}


@pytest.mark.parametrize(("volumes", "pattern"), [
    ("{at: var/lib/at}", "services.worker.volumes: .*volume 'at': the path inside a container must be absolute"),
    ("{at: /}", "services.worker.volumes: .*must be absolute and not /"),
    ("{At: /data}", "services.worker.volumes: .*volume name 'At': use lowercase"),
    ("[/data]", "services.worker.volumes: "),
])
def test_bad_volumes_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                  volumes: str, pattern: str) -> None:
    import re

    (tmp_path / "stapel.yaml").write_text(f"services:\n  worker:\n    command: x\n    volumes: {volumes}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["config"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and re.search(pattern, lines[0]), lines
    assert not (tmp_path / ".local").exists()


def test_a_contour_may_rename_only_a_declared_volume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "stapel.yaml").write_text(STACK.replace("worker.at: at_stage", "worker.nope: at_stage"))
    monkeypatch.chdir(tmp_path)
    assert main(["config"]) == 1
    assert "contours.stage.volumes.worker.nope: no such component or service volume" in capsys.readouterr().err
