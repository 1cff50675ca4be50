"""Every folder under examples/ renders, through the CLI, to a Compose file that `docker-compose config -q` accepts and
to kustomize overlays whose every build passes `kubernetes-validate --strict` (the helpers and their skip rules are
those of test_render_compose.py and test_render_k8s.py). No secret value lands in a rendered file meant for review."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_render_compose import docker_compose_config
from test_render_k8s import kustomize

from stapel.cli.main import main
from stapel.engine.stack import open_stack

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (REPO / "examples").iterdir() if (p / "stapel.yaml").is_file())


@pytest.fixture(params=EXAMPLES)
def example(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("STAPEL_CONTOUR", raising=False)
    root = tmp_path / request.param
    shutil.copytree(REPO / "examples" / request.param, root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    for example_file in root.glob("env.*example"):  # what `stapel env sync --non-interactive` would write, fixed values
        target = root / (".env" if example_file.name == "env.example" else "." + example_file.name.removesuffix(".example"))
        target.write_text("".join(f"{line.split('=')[0]}=Example{n}Secret0123456789abcdef\n"
                                  for n, line in enumerate(example_file.read_text().splitlines()) if "=" in line and not line.startswith("#")))
    return root


def secrets_of(example: Path) -> list[str]:
    """The stack's secret values, less those that are also a plain name there (seed 001's dev postgres/postgres)."""
    stack = open_stack(example / "stapel.yaml")
    plain = {str(getattr(n.config, a, "")) for n in stack.components() for a in ("user", "database", "vhost")}
    return [s for s in stack.secrets() if s not in plain]


def test_examples_are_found() -> None:
    assert {"minimal", "seed-000-crm", "seed-001-codelab"} <= set(EXAMPLES)


def test_compose_render_validates(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "compose"
    assert main(["-f", str(example / "stapel.yaml"), "render", "compose", "-o", str(out)]) == 0
    docker_compose_config(out)
    text = (out / "compose.yaml").read_text()
    for secret in secrets_of(example):
        assert secret not in text


def test_k8s_render_validates_every_overlay(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    assert main(["-f", str(example / "stapel.yaml"), "render", "k8s", "-o", str(out), "--tag", "0a1b2c3"]) == 0
    secrets = secrets_of(example)
    overlays = sorted(p.name for p in (out / "overlays").iterdir())
    assert overlays
    for contour in overlays:
        docs = kustomize(out, contour)
        built = tmp_path / f"{contour}.yaml"
        built.write_text(yaml.safe_dump_all(docs))
        done = subprocess.run([str(Path(sys.executable).parent / "kubernetes-validate"), "--strict", "--quiet", str(built)],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    manifests = "".join(p.read_text() for p in out.rglob("*.yaml"))
    for secret in secrets:
        assert secret not in manifests
