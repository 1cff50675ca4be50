"""<P><NODE>_PUBLIC_URL (issue 15): a node's HTTP address as the developer's machine reaches it, for a service's env
(seed 002's REACT_APP_API_URL, read by a browser). Natively its URL (moved port included), in Compose the published
host port, in Kubernetes the `kubectl port-forward svc/<node> <port>` address; never exported by itself; naming it for
a node without a published HTTP port is one line naming services.<s>.env.<KEY>. The renders themselves pass the real
validators in tests/validators/test_examples_render.py (seed 002 uses it)."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from stapel.cli.main import main
from stapel.components.service import declared_env
from stapel.engine.stack import open_stack
from stapel.errors import ConfigError

STACK = """
name: shop
contours:
  dev: {}
  stage: {ports: 100, weak_credentials: allow}
components:
  dash: {kind: grafana, password: grafana-admin-secret-1}
services:
  api: {command: python3 api.py, port: 8000}
  web:
    command: python3 web.py
    port: 3500
    env_prefix: WEB_
    uses: [api, dash]
    env:
      REACT_APP_API_URL: ${WEB_API_PUBLIC_URL}/api
      DASHBOARDS: ${WEB_DASH_PUBLIC_URL}
      INSIDE: ${WEB_API_URL}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stapel.yaml").write_text(textwrap.dedent(STACK).lstrip("\n"))
    return tmp_path


def native(project, contour: str = "dev") -> dict[str, str]:
    stack = open_stack(project / "stapel.yaml", contour, env={})
    return declared_env(stack.nodes["web"], project, stack.service_env(stack.nodes["web"]))


def test_natively_it_is_the_nodes_url(project):
    env = native(project)
    assert (env["REACT_APP_API_URL"], env["DASHBOARDS"], env["INSIDE"]) == ("http://127.0.0.1:8000/api", "http://127.0.0.1:3000",
                                                                          "http://127.0.0.1:8000")
    assert not any(key.endswith("PUBLIC_URL") for key in env)  # referred to by name only
    stage = native(project, "stage")
    assert (stage["REACT_APP_API_URL"], stage["DASHBOARDS"]) == ("http://127.0.0.1:8100/api", "http://127.0.0.1:3100")


def test_natively_a_moved_port_reaches_it(project, capsys):
    (project / ".local" / "state" / "dev").mkdir(parents=True)
    (project / ".local" / "state" / "dev" / "ports.json").write_text(json.dumps({"api": {"main": {"configured": 8000, "chosen": 8011}}}))
    assert main(["env", "print", "--service", "web", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["REACT_APP_API_URL"] == "http://127.0.0.1:8011/api"


def test_compose_gives_the_published_host_port_not_the_network_address(project, tmp_path):
    assert main(["render", "compose", "--contour", "stage", "-o", str(tmp_path / "c"), "--tag", "t1"]) == 0
    services = yaml.safe_load((tmp_path / "c" / "compose.yaml").read_text())["services"]
    env = services["web"]["environment"]
    assert (env["REACT_APP_API_URL"], env["INSIDE"]) == ("http://127.0.0.1:8100/api", "http://api:8100")  # a service listens on its contour port inside too
    assert services["api"]["ports"] == ["127.0.0.1:8100:8100"]
    assert env["DASHBOARDS"] == "http://127.0.0.1:3100" and services["dash"]["ports"] == ["127.0.0.1:3100:3000"]


def test_kubernetes_gives_the_port_forward_address_and_says_how(project, tmp_path, capsys):
    assert main(["render", "k8s", "--contour", "stage", "-o", str(tmp_path / "k"), "--tag", "t1"]) == 0
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines() if "port-forward" in line]
    assert lines == ["kubectl port-forward -n shop-stage svc/api 8000", "kubectl port-forward -n shop-stage svc/dash 3000"]
    base = list(yaml.safe_load_all((tmp_path / "k" / "base" / "web.yaml").read_text()))
    config = next(d for d in base if d["kind"] == "ConfigMap")["data"]
    assert (config["REACT_APP_API_URL"], config["DASHBOARDS"], config["INSIDE"]) == (
        "http://127.0.0.1:8000/api", "http://127.0.0.1:3000", "http://api:8000")


@pytest.mark.parametrize(("change", "message"), [
    (("api: {command: python3 api.py, port: 8000}", "api: {command: python3 api.py}"),
     "stapel.yaml:15: services.web.env.REACT_APP_API_URL: WEB_API_PUBLIC_URL: 'api' publishes no HTTP port on the "
     "developer's machine; give it a port, or use WEB_API_URL inside the network"),
    (("  dash: {kind: grafana, password: grafana-admin-secret-1}", "  dash: {kind: postgres, password: pg-admin-secret-1}"),
     "stapel.yaml:16: services.web.env.DASHBOARDS: WEB_DASH_PUBLIC_URL: 'dash' publishes no HTTP port on the developer's "
     "machine (it is no HTTP server); give it a port, or use WEB_DASH_URL inside the network"),
])
def test_a_node_without_a_published_http_port_is_one_line_naming_the_key(project, change, message):
    (project / "stapel.yaml").write_text(textwrap.dedent(STACK).lstrip("\n").replace(*change))
    with pytest.raises(ConfigError) as failed:
        open_stack(project / "stapel.yaml", env={})
    assert failed.value.lines() == [message]
