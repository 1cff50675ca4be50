"""services.<s>.build {context, dockerfile}: what render compose, render k8s and render dockerfile make of it, and the
one-line refusals of a context outside the project, a context without the service's folder and a missing Dockerfile.
The examples' images are checked against their code in tests/validators/test_build_context.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stapel.cli.main import main
from stapel.engine.stack import open_stack
from stapel.render import k8s

STACK = """\
name: shop
services:
  users:
    command: python3 main.py
    cwd: services/users
    port: 8001
    build: {BUILD}
    watch: [services/users, api]
"""


def project(tmp_path: Path, build: str) -> Path:
    root = tmp_path / "shop"
    (root / "services/users").mkdir(parents=True)
    (root / "api/server").mkdir(parents=True)
    (root / "api/server/asyncapi.yaml").write_text("asyncapi: 3.0.0\n")
    (root / "services/users/main.py").write_text("print('users')\n")
    (root / "services/users/requirements.txt").write_text("httpx\n")
    (root / "services/users/Dockerfile").write_text("FROM scratch\n")
    (root / "stapel.yaml").write_text(STACK.replace("{BUILD}", build))
    return root


def rendered(root: Path, tmp_path: Path) -> dict:
    assert main(["-f", str(root / "stapel.yaml"), "render", "compose", "-o", str(tmp_path / "out")]) == 0
    return yaml.safe_load((tmp_path / "out/compose.yaml").read_text())["services"]["users"]


def test_compose_builds_from_the_context_with_the_service_dockerfile(tmp_path: Path) -> None:
    body = rendered(project(tmp_path, "{context: ., dockerfile: services/users/Dockerfile}"), tmp_path)
    assert body["build"] == {"context": "../shop", "dockerfile": "services/users/Dockerfile"}
    sync, rebuild = body["develop"]["watch"]  # both watched folders are in the context: synced at their paths in /app
    assert sync["target"] == "/app/services/users" and rebuild["target"] == "/app/api" and rebuild["action"] == "sync+restart"


def test_the_dockerfile_defaults_to_the_one_in_the_service_cwd(tmp_path: Path) -> None:
    body = rendered(project(tmp_path, "{context: .}"), tmp_path)
    assert body["build"] == {"context": "../shop", "dockerfile": "services/users/Dockerfile"}
    tmp = tmp_path / "plain"
    body = rendered(project(tmp, "null"), tmp)
    assert body["build"] == {"context": "../shop/services/users"}  # no build: its cwd and the Dockerfile there
    assert [entry["action"] for entry in body["develop"]["watch"]] == ["sync+restart", "rebuild"]  # api/ is outside


def test_k8s_build_command_names_context_and_dockerfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, "{context: ., dockerfile: services/users/Dockerfile}")
    monkeypatch.chdir(root)
    lines = k8s.build_commands(open_stack(root / "stapel.yaml", "dev", env={}), "abc123", None)
    assert lines == ["docker build -t shop/users:abc123 -f services/users/Dockerfile ."]


@pytest.mark.parametrize(("build", "expected"), [
    ("{context: ..}", "services.users.build.context: '..' is outside the project"),
    ("{context: api}", "services.users.build.context: 'api' does not hold the service's cwd"),
    ("{context: nowhere}", "services.users.build.context: 'nowhere' is no folder"),
    ("{context: ., dockerfile: Dockerfile.users}", "services.users.build.dockerfile: 'Dockerfile.users' is no file"),
    ("{context: ., dockerfile: ../Dockerfile}", "services.users.build.dockerfile: '../Dockerfile' is outside the project"),
    ("{contxt: .}", "services.users.build"),
])
@pytest.mark.parametrize("target", ["compose", "k8s"])
def test_a_wrong_build_is_one_line_and_nothing_is_written(tmp_path: Path, capsys, build: str, expected: str, target: str) -> None:
    root = project(tmp_path, build)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")  # exists, but outside the project
    assert main(["-f", str(root / "stapel.yaml"), "render", target, "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stapel: error: ") and expected in err[0], err
    assert not (tmp_path / "out").exists()


def test_starter_dockerfile_for_a_wider_context(tmp_path: Path) -> None:
    from dockerfile_parse import DockerfileParser

    root = project(tmp_path, "{context: ., dockerfile: services/users/Dockerfile}")
    (root / "services/users/Dockerfile").unlink()
    for _ in range(2):  # a second run finds the same .dockerignore and keeps it
        assert main(["-f", str(root / "stapel.yaml"), "render", "dockerfile", "--service", "users", "--force"]) == 0
    parser = DockerfileParser(path=str(root / "services/users/Dockerfile"))
    steps = [(i["instruction"], i["value"]) for i in parser.structure if i["instruction"] in ("COPY", "RUN", "WORKDIR")]
    assert steps[2:] == [("COPY", "services/users/requirements.txt ./services/users/"),
                         ("RUN", "pip install -r services/users/requirements.txt"), ("COPY", ". ."),
                         ("WORKDIR", "/app/services/users")]
    assert ".env" in (root / ".dockerignore").read_text().splitlines()  # at the context's root, where Docker reads it
    assert not (root / "services/users/.dockerignore").exists()
