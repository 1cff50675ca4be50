"""tests/validators/__init__.py can fail: each real validator rejects a bad input, and a missing program skips locally but
fails under CI. (The two Compose validators' bad inputs are in test_render_compose.py, promtool's in test_monitoring.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

import validators


def test_a_missing_program_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^no-such-validator not installed \(install it so\)$"):
        validators.required("no-such-validator", "install it so")
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match=r"^no-such-validator is missing: install it so$"):
        validators.required("no-such-validator", "install it so")


def test_kubernetes_validate_rejects_an_unknown_field_that_kustomize_lets_through(tmp_path: Path) -> None:
    overlay = tmp_path / "out" / "overlays" / "dev"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources: [config.yaml]\n")
    (overlay / "config.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n")
    assert validators.kustomize_and_validate(tmp_path / "out", "dev", tmp_path)[0]["data"] == {"a": "b"}
    (overlay / "config.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\ndatta: {}\n")
    assert validators.kustomize(tmp_path / "out", "dev")[0]["datta"] == {}
    with pytest.raises(AssertionError, match="datta"):
        validators.kustomize_and_validate(tmp_path / "out", "dev", tmp_path)


def test_kustomize_rejects_a_missing_resource(tmp_path: Path) -> None:
    overlay = tmp_path / "overlays" / "dev"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(AssertionError, match="missing.yaml"):
        validators.kustomize(tmp_path, "dev")


@pytest.mark.parametrize(("script", "caught_by"), [("if true; then\n", "sh -n"), ('#!/bin/sh\necho $1\n', "shellcheck")])
def test_shell_checked_rejects_a_syntax_error_and_an_unquoted_variable(tmp_path: Path, script: str, caught_by: str) -> None:
    path = tmp_path / "x.sh"
    path.write_text(script)
    if caught_by == "shellcheck":
        validators.required("shellcheck", "./dev installs it")
    with pytest.raises(AssertionError, match="SC2086" if caught_by == "shellcheck" else "(?i)syntax error"):
        validators.shell_checked(path)
    path.write_text('#!/bin/sh\necho "$1"\n')
    validators.shell_checked(path)
