"""The tests of tests/unit/test_render_k8s.py that run the real validators (docker-compose, kubectl kustomize,
kubernetes-validate, promtool, shellcheck: tests/validators/__init__.py); their helpers stay there.

stapel render k8s: examples/minimal (dev and stage) against golden files, kustomize + kubernetes-validate, bad input.

The golden files are tests/golden/k8s/** (base/ and overlays/<contour>/, secrets excluded). After an intended
change to the output, regenerate them and review the diff:

    STAPEL_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/unit/test_render_k8s.py

Every overlay must build with `kubectl kustomize` and its output pass `kubernetes-validate --strict` (the `test`
extra installs kubernetes-validate); without kubectl those checks are skipped, except under CI (CI=1) (tests/validators/__init__.py).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from unit import test_render_k8s as unit_module
from unit.test_render_k8s import ALL_KINDS, PROD, STAGE_SECRETS, TAG, render_to, rendered_files, stacks

from stapel.cli.main import main
from stapel.engine.stack import open_stack
from stapel.render import k8s
from validators import kustomize, kustomize_and_validate

project = unit_module.project  # a fixture of the unit module: pytest finds it here by this name


def test_every_kind_and_a_contour_that_changes_a_container(tmp_path: Path) -> None:
    (tmp_path / "stapel.yaml").write_text(ALL_KINDS)
    loaded = {c: open_stack(tmp_path / "stapel.yaml", c, env=env) for c, env in (("dev", {"CACHE_PASSWORD": "not-used-in-dev"}), ("prod", PROD))}
    out = tmp_path / "out"
    k8s.write(out, k8s.render(loaded, tag=TAG), k8s.secret_env_files(loaded))
    for contour in ("dev", "prod"):
        docs = kustomize_and_validate(out, contour, tmp_path)
        names = {(d["kind"], d["metadata"]["name"]) for d in docs}
        assert ("Service", "worker") not in names and ("Deployment", "worker") in names and ("Service", "users-api") in names
        cache = next(d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "cache")
        args = cache["spec"]["template"]["spec"]["containers"][0].get("args", [])
        assert ("--requirepass" in args) == (contour == "prod")
    assert "ProdCachePassword012345" not in "".join(rendered_files(out).values())


@pytest.mark.parametrize("contour", ["dev", "stage"])
def test_overlay_builds_and_validates(project: Path, tmp_path: Path, contour: str) -> None:
    docs = kustomize_and_validate(render_to(project, tmp_path / "out"), contour, tmp_path)
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {f"minimal-{contour}"}


def test_registry_names_what_the_cluster_pulls_and_how_to_build_it(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys) -> None:
    for key in ["STAPEL_CONTOUR", "STAPEL_REGISTRY", *STAGE_SECRETS]:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(project)  # the build context is printed as typed from the current folder
    out = tmp_path / "out"
    args = ["-f", str(project / "stapel.yaml"), "render", "k8s", "-o", str(out), "--tag", TAG, "--registry", "registry.example:5000/acme"]
    assert main(args) == 0
    pushed = f"registry.example:5000/acme/minimal/api:{TAG}"
    assert f"docker build -t {pushed} api && docker push {pushed}" in capsys.readouterr().out
    for contour in ("dev", "stage"):
        docs = kustomize_and_validate(out, contour, tmp_path)
        api = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "api")
        assert api["spec"]["template"]["spec"]["containers"][0]["image"] == pushed
    assert k8s.build_commands(stacks(project)["dev"], TAG, None) == [f"docker build -t minimal/api:{TAG} api"]


def test_stage_secret_values_reach_the_secret(project: Path, tmp_path: Path) -> None:
    secret = next(d for d in kustomize(render_to(project, tmp_path / "out"), "stage")
                  if d["kind"] == "Secret" and d["metadata"]["name"] == "api-secrets")
    assert "stringData" not in secret
    url = base64.b64decode(secret["data"]["DATABASE_URL"]).decode()
    assert url == f"postgresql://postgres:{STAGE_SECRETS['DB_PASSWORD']}@db:5432/app"
