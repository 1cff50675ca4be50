"""Every folder under examples/ renders, through the CLI, to a Compose file that `docker-compose config -q` and
compose-spec accept and to kustomize overlays whose every build passes `kubernetes-validate --strict` (the validators
and their skip rules: tests/validators/__init__.py). No secret value lands in a rendered file meant for review.

Every example but minimal (whose golden files, with a stage contour, belong to test_render_compose.py and
test_render_k8s.py) is also compared with its golden files, tests/golden/<example>/: compose/<contour>/ for
`stapel render compose` of each contour (compose.yaml, monitoring/**, the one-shots' scripts under stapel/) and k8s/
for `stapel render k8s` (base/ and overlays/<contour>/), everything but the secret files (.env.compose, secrets/**).
They are rendered with env={} (the dev-only defaults; no .env, no process environment; the other contours' env files
with fixed values) and the tag 0a1b2c3, so nothing depends on generated secrets or the machine. After an intended
change to the output, regenerate them and review the diff:

    STAPEL_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/unit/test_examples_render.py
    git diff --stat tests/golden/ && git diff tests/golden/
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

from stapel.engine.stack import open_stack
from stapel.render import compose, k8s

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (REPO / "examples").iterdir() if (p / "stapel.yaml").is_file())
GOLDEN = REPO / "tests" / "golden"
WITH_GOLDEN = [name for name in EXAMPLES if name != "minimal"]
TAG = "0a1b2c3"


@pytest.fixture(params=EXAMPLES)
def example(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("STAPEL_CONTOUR", raising=False)
    root = tmp_path / request.param
    shutil.copytree(REPO / "examples" / request.param, root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local", "node_modules"))
    write_env_files(root, root.glob("env.*example"))
    return root


def write_env_files(root: Path, examples: Iterable[Path]) -> None:
    """What `stapel env sync --non-interactive` would write from these examples: their values, fixed secrets (strong enough for stage) for the empty ones."""
    for example_file in examples:
        target = root / (".env" if example_file.name == "env.example" else "." + example_file.name.removesuffix(".example"))
        pairs = [line.split("=", 1) for line in example_file.read_text().splitlines() if "=" in line and not line.startswith("#")]
        target.write_text("".join(f"{key}={value.split('#')[0].strip() or f'Fx{n}q7Rk2mZ9vLw4tP8sJ3h'}\n"
                                  for n, (key, value) in enumerate(pairs)))


def secrets_of(example: Path) -> list[str]:
    """The stack's secret values, less those that are also a plain name there (seed 001's dev postgres/postgres)."""
    stack = open_stack(example / "stapel.yaml")
    plain = {str(getattr(n.config, a, "")) for n in stack.components() for a in ("user", "database", "vhost")}
    return [s for s in stack.secrets() if s not in plain]


def test_examples_are_found() -> None:
    assert {"minimal", "seed-000-crm", "seed-001-codelab"} <= set(EXAMPLES)


def review_files(out: Path) -> dict[str, str]:
    """What a render writes for review: everything but the secret files (.env.compose, secrets/**)."""
    return {p.relative_to(out).as_posix(): p.read_text() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != ".env.compose" and "secrets" not in p.relative_to(out).parts}


def render_for_review(name: str, tmp_path: Path) -> dict[str, str]:
    """examples/<name> as `stapel render compose` (each contour, into the default deploy/compose) and `stapel render k8s`
    (deploy/k8s) write it, with env={} and TAG: {path under tests/golden/<name>/: text}."""
    root = tmp_path / name
    shutil.copytree(REPO / "examples" / name, root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local", "node_modules"))
    write_env_files(root, root.glob("env.?*.example"))  # the other contours' env files (seed 003); dev keeps its defaults
    first = open_stack(root / "stapel.yaml", env={})
    stacks = {first.contour: first} | {c: open_stack(root / "stapel.yaml", c, env=contour_env(root, c)) for c in first.model.contours if c != first.contour}
    found: dict[str, str] = {}
    for contour, stack in stacks.items():
        out = root / "deploy" / "compose"
        shutil.rmtree(out, ignore_errors=True)
        doc, _ = compose.build(stack, out, TAG)
        text = compose.document_text(stack, doc)
        out.mkdir(parents=True)
        compose.write_support_files(stack, out)
        (out / "compose.yaml").write_text(text)
        found |= {f"compose/{contour}/{rel}": body for rel, body in review_files(out).items()}
    out = root / "deploy" / "k8s"
    k8s.write(out, k8s.render(stacks, tag=TAG), k8s.secret_env_files(stacks))
    return found | {f"k8s/{rel}": body for rel, body in review_files(out).items()}


def contour_env(root: Path, contour: str) -> dict[str, str]:
    """What the contour's own env file holds (outside dev, stapel.yaml's dev-only defaults are refused)."""
    from stapel import envdoc

    file = root / f".env.{contour}"
    return envdoc.read(file) if file.is_file() else {}


@pytest.mark.parametrize("name", WITH_GOLDEN)
def test_matches_its_golden_files(name: str, tmp_path: Path) -> None:
    files = render_for_review(name, tmp_path)
    golden = GOLDEN / name
    if os.environ.get("STAPEL_UPDATE_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        for rel, text in files.items():
            (golden / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden / rel).write_text(text)
    assert sorted(files) == sorted(review_files(golden)), f"tests/golden/{name}/ holds other files (STAPEL_UPDATE_GOLDEN=1 regenerates)"
    for rel, text in files.items():
        assert text == (golden / rel).read_text(), f"{rel} differs from tests/golden/{name}/{rel} (STAPEL_UPDATE_GOLDEN=1 regenerates)"
    assert any(rel.startswith("compose/") and rel.endswith("/compose.yaml") for rel in files)
    assert any(rel.startswith("k8s/overlays/") for rel in files) and "k8s/base/kustomization.yaml" in files
