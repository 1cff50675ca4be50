"""The consul and qdrant kinds: native launch specs and configs, the missing-binary message, ports, exports,
the Consul leader probe, and the health-check commands the Compose/Kubernetes renders run inside the images.

No Consul or Qdrant binary can be installed here, so native() is checked with a stub executable in bin_dir
(what stapel would run, and what it writes), and the probes and health-check commands against small HTTP
servers answering like Consul's /v1/status/leader and Qdrant's /readyz.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from stapel.components import consul, qdrant
from stapel.engine.options import UpOptions
from stapel.engine.stack import open_stack
from stapel.engine.up import Up
from stapel.errors import PreflightError
from stapel.probes.generic import bash_get
from stapel.runtimes.fake import FakeRuntime
from stapel.runtimes.native.runtime import NativeContext

STACK = """\
name: crm
contours:
  dev: {{}}
  prod: {{ports: 1000}}
components:
  kv: {{kind: consul, {bin}}}
  vec: {{kind: qdrant, api_key: "${{QDRANT_KEY:-dev-only-qdrant-key-123}}", {bin}}}
services:
  api:
    command: python3 app.py
    port: 8000
    depends_on: [kv, vec]
"""


def stack_in(tmp_path: Path, bin_dir: Path | None = None, contour: str | None = None):
    (tmp_path / "stapel.yaml").write_text(STACK.format(bin=f"bin_dir: {bin_dir}" if bin_dir else ""))
    return open_stack(tmp_path / "stapel.yaml", contour, env={})


@pytest.fixture
def stub_bins(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("consul", "qdrant"):
        (folder / name).write_text("#!/bin/sh\nexit 0\n")
        (folder / name).chmod(0o755)
    return folder


def test_consul_native_runs_a_single_node_server_with_its_data_under_local(tmp_path: Path, stub_bins: Path) -> None:
    stack = stack_in(tmp_path, stub_bins)
    node, ctx = stack.nodes["kv"], NativeContext(stack)
    spec = consul.native(node, ctx)
    conf = stack.paths.conf("kv") / "consul.json"
    assert spec.argv == [str(stub_bins / "consul"), "agent", f"-config-file={conf}"]
    consul.prepare(node, ctx)
    config = json.loads(conf.read_text())
    assert config["data_dir"] == str(stack.paths.data("kv")) and str(tmp_path / ".local") in config["data_dir"]
    assert config["server"] is True and config["bootstrap_expect"] == 1
    assert config["bind_addr"] == config["client_addr"] == "127.0.0.1"
    assert config["ports"] == {"http": 8500, "serf_lan": 8301, "server": 8300, "dns": -1, "grpc": -1, "grpc_tls": -1, "https": -1,
                               "serf_wan": -1}
    assert config["disable_update_check"] is True
    assert config["node_name"] == "stapel-crm-dev-kv"


def test_qdrant_native_keeps_the_api_key_off_argv_and_disk(tmp_path: Path, stub_bins: Path) -> None:
    stack = stack_in(tmp_path, stub_bins)
    node, ctx = stack.nodes["vec"], NativeContext(stack)
    spec = qdrant.native(node, ctx)
    conf = stack.paths.conf("vec") / "qdrant.yaml"
    assert spec.argv == [str(stub_bins / "qdrant"), "--config-path", str(conf), "--disable-telemetry"]
    assert spec.env["QDRANT__SERVICE__API_KEY"] == "dev-only-qdrant-key-123"
    qdrant.prepare(node, ctx)
    text = conf.read_text()
    assert f"storage_path: {stack.paths.data('vec') / 'storage'}" in text
    assert "host: 127.0.0.1\n  http_port: 6333\n  grpc_port: 6334" in text and "telemetry_disabled: true" in text
    assert "dev-only-qdrant-key-123" not in text + " ".join(spec.argv)
    spec.secrets = stack.secrets()
    assert "dev-only-qdrant-key-123" not in json.dumps(spec.on_disk())  # pid files mask it


def test_a_new_api_key_changes_the_spec(tmp_path: Path, stub_bins: Path) -> None:
    first = qdrant.native(stack_in(tmp_path, stub_bins).nodes["vec"], NativeContext(stack_in(tmp_path, stub_bins)))
    (tmp_path / "stapel.yaml").write_text(STACK.format(bin=f"bin_dir: {stub_bins}"))
    other = open_stack(tmp_path / "stapel.yaml", env={"QDRANT_KEY": "another-key-4567890"})
    assert qdrant.native(other.nodes["vec"], NativeContext(other)).spec_hash != first.spec_hash


@pytest.mark.parametrize(("name", "module", "expected"), [
    ("kv", consul, "HashiCorp's apt repository (https://developer.hashicorp.com/consul/install#linux), then "),
    ("vec", qdrant, "qdrant-x86_64-unknown-linux-gnu.tar.gz from https://github.com/qdrant/qdrant/releases (its qdrant on PATH)"),
])
def test_a_missing_binary_names_what_to_install_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name, module, expected) -> None:
    if platform.system() != "Linux" or platform.machine() != "x86_64" or not Path("/usr/bin/apt-get").exists():
        pytest.skip("the expected hint is the one for Debian/Ubuntu on x86_64")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("shutil.which", lambda program, *a, **k: "/usr/bin/apt-get" if program == "apt-get" else None)
    stack = stack_in(tmp_path)
    with pytest.raises(PreflightError) as info:
        module.native(stack.nodes[name], NativeContext(stack))
    lines = info.value.lines()
    assert len(lines) == 1
    kind = stack.nodes[name].kind
    assert lines[0].startswith(f"components.{name}: {kind} needs {kind}, not found on PATH or in the usual places (install with: {expected}")
    assert lines[0].endswith(", or set bin_dir in stapel.yaml, or use --runtime compose)")


def test_a_missing_binary_in_bin_dir_says_so(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    stack = stack_in(tmp_path, tmp_path / "nothing")
    with pytest.raises(PreflightError, match=rf"^components\.kv: consul needs consul, not found in {tmp_path / 'nothing'}$"):
        consul.native(stack.nodes["kv"], NativeContext(stack))


def test_exports_reach_the_service(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, contour="prod")
    env = stack.service_env(stack.nodes["api"])
    assert env["CONSUL_HTTP_ADDR"] == env["CONSUL_URL"] == env["KV_URL"] == "http://127.0.0.1:9500"
    assert env["QDRANT_URL"] == "http://127.0.0.1:7333" and env["QDRANT_GRPC_PORT"] == env["VEC_GRPC_PORT"] == "7334"
    assert env["QDRANT_API_KEY"] == "dev-only-qdrant-key-123"
    assert "dev-only-qdrant-key-123" in stack.secrets()


def test_consul_cluster_ports_move_when_busy_even_in_a_fixed_contour(tmp_path: Path) -> None:
    stack = stack_in(tmp_path, contour="prod")
    said: list[str] = []
    Up(stack, FakeRuntime(stack, busy_ports={9300: "consul (pid 7)", 9301: "consul (pid 7)"}), UpOptions(), said.append).run()
    assert stack.nodes["kv"].ports == {"main": 9500, "serf_lan": 9302, "server": 9303}
    assert not any("930" in line for line in said)


class Answer:
    """A tiny HTTP server whose answer to every GET the test sets: (status, body)."""

    def __init__(self) -> None:
        self.status, self.body = 200, b""
        answer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(answer.status)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()  # shutdown() waits a poll


@pytest.fixture
def answer():
    server = Answer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_consul_probe_waits_for_a_leader(answer: Answer) -> None:
    answer.body = b'""'
    assert consul.Leader().check({"port": answer.port}, 2) == (False, "no leader elected yet")
    answer.body = b'"127.0.0.1:8300"'
    assert consul.Leader().check({"port": answer.port}, 2) == (True, "leader 127.0.0.1:8300")
    answer.status = 500
    assert consul.Leader().check({"port": answer.port}, 2)[0] is False


def run_shell(argv: list[str]) -> int:
    return subprocess.run(argv, capture_output=True, timeout=10, check=False, env={"PATH": os.environ["PATH"]}).returncode


def test_the_consul_container_check_passes_only_with_a_leader(answer: Answer) -> None:
    answer.body = b'"127.0.0.1:8300"'
    assert run_shell(["sh", "-c", consul.container_check(answer.port)]) == 0
    answer.body = b'""'
    assert run_shell(["sh", "-c", consul.container_check(answer.port)]) == 1


def test_the_bash_http_check_qdrant_runs_needs_only_bash(answer: Answer) -> None:
    answer.body = b"all shards are ready"
    assert run_shell(["bash", "-c", bash_get(answer.port, "/readyz")]) == 0
    answer.status = 503
    assert run_shell(["bash", "-c", bash_get(answer.port, "/readyz")]) != 0


def test_compose_and_k8s_run_them_with_their_own_checks_and_the_key_as_a_secret(tmp_path: Path) -> None:
    from stapel.render import compose, k8s_objects

    stack = stack_in(tmp_path)
    doc, refs = compose.build(stack, tmp_path / "out")
    kv, vec = doc["services"]["kv"], doc["services"]["vec"]
    assert kv["command"] == consul.CONTAINER_ARGS and kv["healthcheck"]["test"] == ["CMD-SHELL", consul.container_check(8500)]
    assert vec["environment"]["QDRANT__SERVICE__API_KEY"] == "${VEC_API_KEY}" and refs.values["VEC_API_KEY"] == "dev-only-qdrant-key-123"
    assert vec["healthcheck"]["test"][:3] == ["CMD", "bash", "-c"] and "$$status" in vec["healthcheck"]["test"][3]
    assert vec["ports"] == ["127.0.0.1:6333:6333", "127.0.0.1:6334:6334"]
    assert doc["services"]["api"]["environment"]["CONSUL_HTTP_ADDR"] == "http://kv:8500"
    plain, secret = k8s_objects.node_env(stack, k8s_objects.cluster_stack(stack), stack.nodes["vec"], k8s_objects.secret_keys(stack))
    assert secret == {"QDRANT__SERVICE__API_KEY": "dev-only-qdrant-key-123"} and plain["QDRANT__SERVICE__GRPC_PORT"] == "6334"
    assert k8s_objects.probes(stack, stack.nodes["vec"])["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 6333, "scheme": "HTTP"}
    assert k8s_objects.probes(stack, stack.nodes["kv"])["readinessProbe"]["exec"]["command"] == ["sh", "-c", consul.container_check(8500)]
