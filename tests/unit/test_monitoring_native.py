"""The Grafana kind natively (no Grafana binary is installable here: a stand-in executable checks the launch spec;
the missing-binary error is the real one), the profiles model and `stapel up --profile` on the fake runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stapel.cli.lifecycle import profiles
from stapel.cli.main import build_parser
from stapel.components import grafana
from stapel.engine.options import UpOptions
from stapel.engine.stack import open_stack
from stapel.engine.up import Up
from stapel.errors import PreflightError
from stapel.render import compose
from stapel.runtimes.fake import FakeRuntime
from stapel.runtimes.native.runtime import NativeContext

PASSWORD = "GrafanaAdminPassw0rd-42"
STACK = f"""
components:
  db: {{kind: postgres}}
  metrics: {{kind: prometheus}}
  dash: {{kind: grafana, password: "{PASSWORD}", bin_dir: BIN}}
  tool: {{kind: redis, profiles: [tools]}}
services:
  api: {{command: ./api, port: 8000, depends_on: [db]}}
  probe_ui: {{command: ./ui, port: 8001, profiles: [monitoring], depends_on: [metrics]}}
"""


def stack_in(tmp_path: Path, bin_dir: Path):
    (tmp_path / "stapel.yaml").write_text(STACK.replace("BIN", str(bin_dir)))
    return open_stack(tmp_path / "stapel.yaml", env={})


def fake_grafana(tmp_path: Path, name: str = "grafana") -> Path:
    home = tmp_path / "grafana-home"
    (home / "bin").mkdir(parents=True)
    (home / "conf").mkdir()
    (home / "conf" / "defaults.ini").write_text("")
    exe = home / "bin" / name
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return home / "bin"


def test_missing_grafana_names_what_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    stack = stack_in(tmp_path, empty)
    with pytest.raises(PreflightError) as info:
        grafana.native(stack.nodes["dash"], NativeContext(stack))
    assert info.value.message == ("components.dash: Grafana needs `grafana` (or `grafana-server`), not found on PATH, in bin_dir "
                                  "or in /usr/share/grafana/bin")
    assert "https://apt.grafana.com" in info.value.hint and "brew install grafana" in info.value.hint
    assert "--runtime compose" in info.value.hint


def test_a_binary_without_its_home_is_refused(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "grafana").write_text("#!/bin/sh\n")
    (bare / "grafana").chmod(0o755)
    stack = stack_in(tmp_path, bare)
    with pytest.raises(PreflightError, match=r"components.dash: found .*/bare/grafana, but no Grafana home"):
        grafana.native(stack.nodes["dash"], NativeContext(stack))


@pytest.mark.parametrize("program", ["grafana", "grafana-server"])
def test_launch_spec_keeps_the_password_off_argv_and_disk(tmp_path: Path, program: str) -> None:
    bin_dir = fake_grafana(tmp_path, program)
    stack = stack_in(tmp_path, bin_dir)
    node, ctx = stack.nodes["dash"], NativeContext(stack)
    spec = grafana.native(node, ctx)
    spec.secrets = stack.secrets()
    home = str(bin_dir.parent)
    assert spec.argv == [str(bin_dir / program), *(["server"] if program == "grafana" else []), f"--homepath={home}"]
    assert spec.env["GF_SECURITY_ADMIN_PASSWORD"] == PASSWORD and spec.env["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    assert spec.env["GF_SERVER_HTTP_PORT"] == "3000"
    for key in ("GF_PATHS_DATA", "GF_PATHS_LOGS", "GF_PATHS_PLUGINS", "GF_PATHS_PROVISIONING"):
        assert spec.env[key].startswith(str(tmp_path / ".local"))
    assert PASSWORD not in json.dumps(spec.hash_basis) and PASSWORD not in json.dumps(spec.on_disk())
    grafana.prepare(node, ctx)
    provisioning = Path(spec.env["GF_PATHS_PROVISIONING"])
    source = yaml.safe_load((provisioning / "datasources" / "stapel.yaml").read_text())["datasources"][0]
    assert source["url"] == "http://127.0.0.1:9090"
    provider = yaml.safe_load((provisioning / "dashboards" / "stapel.yaml").read_text())["providers"][0]
    assert sorted(p.name for p in Path(provider["options"]["path"]).iterdir())[0] == "stapel-overview.json"
    assert grafana.probe(node).params["path"] == "/api/health"
    stack.nodes["metrics"].ports["main"] = 9191  # Prometheus moved: the provisioning (and so the spec) changes
    assert grafana.native(node, ctx).spec_hash != spec.spec_hash


def test_profile_defaults_and_compose_uses_them(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, tmp_path)
    assert {n.name: n.config.profiles for n in stack.nodes.values()} == {
        "db": [], "metrics": ["monitoring"], "dash": ["monitoring"], "tool": ["tools"], "api": ["backend"], "probe_ui": ["monitoring"]}
    services = compose.render(stack)["services"]
    assert "profiles" not in services["db"] and services["tool"]["profiles"] == ["tools"]
    assert services["probe_ui"]["profiles"] == ["monitoring"] and services["api"]["profiles"] == ["backend"]


def test_a_bad_profile_name_is_a_config_error(write_yaml) -> None:
    from stapel.errors import ConfigError

    with pytest.raises(ConfigError, match=r"components.db.profiles.0"):
        open_stack(write_yaml("components:\n  db: {kind: postgres, profiles: ['-x']}\n"), env={})


def up(stack, options: UpOptions):
    runtime = FakeRuntime(stack)
    Up(stack, runtime, options, lambda text: None).run()
    return sorted(e.split()[1] for e in runtime.events if e.startswith("start "))


@pytest.mark.parametrize(("wanted", "started"), [
    (None, ["api", "dash", "db", "metrics", "probe_ui", "tool"]),
    (["monitoring"], ["dash", "db", "metrics", "probe_ui"]),
    (["backend"], ["api", "db"]),
    (["tools", "backend"], ["api", "db", "tool"]),
])
def test_up_profile_runs_unprofiled_nodes_plus_the_named_ones(tmp_path: Path, wanted, started) -> None:
    assert up(stack_in(tmp_path, tmp_path), UpOptions(profiles=wanted)) == started


def test_up_profile_with_service_and_skip_backend(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, tmp_path)
    assert up(stack, UpOptions(profiles=["monitoring"], skip_backend=True)) == ["dash", "db", "metrics"]
    stack = stack_in(tmp_path, tmp_path)
    # --service: that service and what it needs, plus the nodes of a named --profile; not db (unprofiled, unneeded)
    assert up(stack, UpOptions(profiles=["tools"], services=["probe_ui"])) == ["metrics", "probe_ui", "tool"]


def test_an_unknown_profile_is_refused_before_anything_starts(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, tmp_path)
    runtime = FakeRuntime(stack)
    with pytest.raises(PreflightError) as info:
        Up(stack, runtime, UpOptions(profiles=["monitorin"]), lambda text: None).run()
    assert info.value.message == "--profile: no component or service of stapel.yaml has profile 'monitorin'; did you mean 'monitoring'?"
    assert runtime.events == [] or all(not e.startswith("start") for e in runtime.events)


def test_profile_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    parse = build_parser().parse_args
    monkeypatch.delenv("STAPEL_PROFILES", raising=False)
    assert profiles(parse(["up"])) is None
    assert profiles(parse(["up", "--profile", "monitoring", "--profile", "a,b"])) == ["monitoring", "a", "b"]
    monkeypatch.setenv("STAPEL_PROFILES", "monitoring, backend")
    assert profiles(parse(["up"])) == ["monitoring", "backend"]
    assert profiles(parse(["up", "--profile", "x"])) == ["x"]  # the flag wins
    assert UpOptions(profiles=["b", "a"]).to_json()["profiles"] == ["a", "b"]  # another selection is not the fast path's no-op
