"""`contours.<c>.profiles`: one selection of what a contour runs (seed 004: services/dev/* are not part of prod), the
same for `up`, `render compose` and `render k8s`. The kustomize base keeps every node; the prod overlay deletes what
prod leaves out, so the overlay's workloads are exactly the Compose file's services. Validated by docker-compose,
compose-spec, `kubectl kustomize` and `kubernetes-validate --strict` (tests/validators/__init__.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from validators import docker_compose_config

from stapel.cli.main import main
from stapel.engine.options import UpOptions
from stapel.engine.stack import open_stack
from stapel.engine.up import Up
from stapel.errors import ConfigError
from stapel.runtimes.fake import FakeRuntime

STACK = """\
name: platform
contours:
  dev: {}
  prod:
    profiles: [backend]
    ports: 100
components:
  db:
    kind: postgres
    password: ${DB_PASSWORD:-dev-only-db-password}
services:
  api:
    command: python3 api.py
    cwd: services/api
    port: 8000
    depends_on: [db]
  mailer:
    command: python3 mailer.py
    cwd: services/dev/mailer
    port: 8025
    profiles: [dev]
    depends_on: [db]
    migrations: {command: python3 migrate.py}
"""
PROD = {"DB_PASSWORD": "ProdDbPassw0rdProdDbPassw0rd1234"}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "platform"
    for folder in ("services/api", "services/dev/mailer"):
        (root / folder).mkdir(parents=True)
        (root / folder / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (root / "stapel.yaml").write_text(STACK)
    for key, value in PROD.items():
        monkeypatch.setenv(key, value)
    return root


def render_compose(root: Path, contour: str, out: Path) -> dict:
    assert main(["-f", str(root / "stapel.yaml"), "--contour", contour, "render", "compose", "-o", str(out), "--tag", "t1"]) == 0
    docker_compose_config(out)
    return yaml.safe_load((out / "compose.yaml").read_text())["services"]


def test_the_contour_stack_leaves_out_what_its_profiles_exclude(project: Path) -> None:
    prod = open_stack(project / "stapel.yaml", "prod", env=PROD)
    assert sorted(prod.nodes) == ["api", "db"] and prod.left_out == ["mailer"]
    assert sorted(open_stack(project / "stapel.yaml", "dev", env={}).nodes) == ["api", "db", "mailer"]
    assert sorted(open_stack(project / "stapel.yaml", "prod", env=PROD, whole=True).nodes) == ["api", "db", "mailer"]


def test_up_in_prod_does_not_start_it(project: Path) -> None:
    stack = open_stack(project / "stapel.yaml", "prod", env=PROD)
    runtime = FakeRuntime(stack)
    Up(stack, runtime, UpOptions(skip_migrations=True), lambda text: None).run()
    assert sorted(e.split()[1] for e in runtime.events if e.startswith("start ")) == ["api", "db"]


def test_without_left_out_nodes_the_base_is_the_first_contour(project: Path, tmp_path: Path) -> None:
    (project / "stapel.yaml").write_text(STACK.replace("    profiles: [backend]\n", ""))
    assert main(["-f", str(project / "stapel.yaml"), "render", "k8s", "-o", str(tmp_path / "k8s"), "--tag", "t1"]) == 0
    prod = yaml.safe_load((tmp_path / "k8s/overlays/prod/kustomization.yaml").read_text())
    assert "$patch: delete" not in str(prod.get("patches"))


def test_a_profile_no_node_has_is_an_error_naming_the_contour(project: Path) -> None:
    (project / "stapel.yaml").write_text(STACK.replace("profiles: [backend]", "profiles: [backedn]"))
    with pytest.raises(ConfigError) as info:
        open_stack(project / "stapel.yaml", "prod", env=PROD)
    assert info.value.lines()[0] == ("stapel.yaml:5: contours.prod.profiles: no component or service has profile 'backedn'; "
                                     "did you mean 'backend'?")


def test_leaving_out_what_a_running_node_needs_is_an_error(project: Path) -> None:
    (project / "stapel.yaml").write_text(STACK.replace("    depends_on: [db]\n  mailer:", "    depends_on: [db, mailer]\n  mailer:"))
    with pytest.raises(ConfigError) as info:
        open_stack(project / "stapel.yaml", "prod", env=PROD)
    assert info.value.lines()[0] == ("stapel.yaml:5: contours.prod.profiles: leaves out mailer (profiles dev), which services.api "
                                     "needs; add one of its profiles or leave api out too")
