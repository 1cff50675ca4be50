"""The tests of tests/unit/test_render_http_jobs.py that run the real validators (docker-compose, kubectl kustomize,
kubernetes-validate, promtool, shellcheck: tests/validators/__init__.py); their helpers stay there.

Consul KV and Qdrant collections as one-shots in `render compose` and `render k8s` (render/http_jobs.py), for
examples/seed-000-crm (Consul) and examples/seed-001-codelab (Qdrant with an api key).

The generated scripts are run by the machine's real curl and sh against the in-process Consul/Qdrant fakes of
test_provision_consul_qdrant.py (no Consul or Qdrant server can run here; see that module for why and how the
fakes follow the vendors' API docs): values arrive byte for byte, a second run creates nothing, the api key comes
from the env. Rendered output passes docker-compose 1.29 + the compose-spec validator, kubectl kustomize +
kubernetes-validate --strict, sh -n and shellcheck.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from unit.test_render_http_jobs import QDRANT_KEY, example

from stapel.cli.main import main
from stapel.render import http_jobs
from validators import docker_compose_config, kustomize_and_validate, shell_checked


@pytest.mark.parametrize("name", ["seed-000-crm", "seed-001-codelab"])
def test_compose_runs_them_after_their_component_and_before_the_services(tmp_path: Path, name: str) -> None:
    root = example(tmp_path, name)
    out = tmp_path / "out"
    assert main(["-f", str(root / "stapel.yaml"), "render", "compose", "-o", str(out), "--tag", "abc1234"]) == 0
    docker_compose_config(out)
    for script in (out / "stapel").rglob("*.sh"):
        shell_checked(script)
    text = (out / "compose.yaml").read_text()
    services = yaml.safe_load(text)["services"]
    component, service = {"seed-000-crm": ("registry", "gateway"), "seed-001-codelab": ("vectors", "core")}[name]
    shot = services[f"{component}-provision"]
    assert shot["image"] == http_jobs.CURL_IMAGE and shot["entrypoint"] == ["sh", "/stapel/provision.sh"]
    assert shot["depends_on"] == {component: {"condition": "service_healthy"}} and shot["restart"] == "no"
    assert shot["volumes"] == [f"./stapel/{component}-provision:/stapel:ro"]
    assert services[service]["depends_on"][f"{component}-provision"] == {"condition": "service_completed_successfully"}
    if name == "seed-001-codelab":
        assert shot["environment"] == {"QDRANT__SERVICE__API_KEY": "${VECTORS_API_KEY}"}
        assert services["vectors"]["environment"]["QDRANT__SERVICE__API_KEY"] == "${VECTORS_API_KEY}"
        assert f"VECTORS_API_KEY={QDRANT_KEY}" in (out / ".env.compose").read_text().splitlines()
    else:
        assert "environment" not in shot
    assert QDRANT_KEY not in text and QDRANT_KEY not in (out / "stapel" / f"{component}-provision" / "provision.sh").read_text()


@pytest.mark.parametrize("name", ["seed-000-crm", "seed-001-codelab"])
def test_k8s_jobs_wait_for_the_component_over_http(tmp_path: Path, name: str) -> None:
    root = example(tmp_path, name)
    out = tmp_path / "k8s"
    assert main(["-f", str(root / "stapel.yaml"), "render", "k8s", "-o", str(out), "--tag", "abc1234"]) == 0
    by = {(d["kind"], d["metadata"]["name"]): d for d in kustomize_and_validate(out, "dev", tmp_path)}
    component = "registry" if name == "seed-000-crm" else "vectors"
    pod = by[("Job", f"{component}-provision")]["spec"]["template"]["spec"]
    wait = {"registry": "until curl -fsS http://registry:8500/v1/status/leader | grep -q :; do sleep 2; done",
            "vectors": "until curl -fsS -o /dev/null http://vectors:6333/readyz; do sleep 2; done"}[component]
    assert pod["initContainers"][0]["command"] == ["sh", "-c", wait] and pod["initContainers"][0]["image"] == http_jobs.CURL_IMAGE
    assert pod["containers"][0]["command"] == ["sh", "/stapel/provision.sh"]
    script = by[("ConfigMap", f"{component}-provision-files")]["data"]["provision.sh"]
    assert f"http://{component}:" in script and QDRANT_KEY not in script
    if component == "vectors":
        assert {"secretRef": {"name": "vectors-secrets"}} in pod["containers"][0]["envFrom"]
        assert "QDRANT__SERVICE__API_KEY" in by[("Secret", "vectors-secrets")]["data"]
