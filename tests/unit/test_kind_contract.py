"""Every registered kind through the kind contract (components/contract.py): each module has every member, and in a
container each has an image, ports, a data path, resources and a probe in all three forms (a native check, a Compose
healthcheck, Kubernetes probes). A new kind is held to it by being registered."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from stapel.components import KINDS as REGISTRY
from stapel.components import kind_module
from stapel.components.base import Container, Resources
from stapel.components.container import container_kinds, container_of, image_of
from stapel.components.contract import Kind
from stapel.components.probing import run
from stapel.engine.stack import open_stack
from stapel.probes import InContainer, probe_type
from stapel.render import compose, k8s_objects

KINDS = tuple(REGISTRY)  # the registry, in its order
MEMBERS = sorted(name for name in vars(Kind) if not name.startswith("_"))


def test_the_contract_names_the_container_facet() -> None:
    assert {"CONTAINER", "container_env", "container_args", "job_env", "probe", "DEFAULT_PORTS"} <= set(MEMBERS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_module_has_every_member_of_the_contract(kind: str) -> None:
    module = kind_module(kind)
    assert [name for name in MEMBERS if not hasattr(module, name)] == []


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    """One component of every registered kind, with what each needs set (a password, a version) to exercise it."""
    root = tmp_path_factory.mktemp("kinds")
    needs = {"external": ", serves: postgres, url: 'postgresql://u:p@db.example.com/x'"}  # what it points at
    blocks = "\n".join(f"  c_{kind}: {{kind: {kind}{needs.get(kind, '')}}}" for kind in KINDS)
    (root / "stapel.yaml").write_text(f"name: every\ncomponents:\n{blocks}\n")
    return open_stack(root / "stapel.yaml", None, env={})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed when the socket is: nothing listens there


@pytest.mark.parametrize("kind", container_kinds())  # an external component has none
def test_every_kind_renders_its_container(stack, kind: str) -> None:
    node = stack.nodes[f"c_{kind}"]
    facet = container_of(node)
    assert image_of(node) == f"{facet.image}:{facet.tag}" and facet.tag
    assert "main" in facet.ports and facet.data_path.startswith("/")
    assert all(getattr(facet.resources, f.name) for f in dataclasses.fields(Resources))
    body = compose.render(stack)["services"][node.name]
    assert body["image"] == image_of(node)
    assert body["ports"] == [f"127.0.0.1:{node.ports[name]}:{port}" for name, port in facet.ports.items() if name in node.ports]
    assert body["volumes"][0].endswith(f":{facet.data_path}")
    pod = k8s_objects.stateful_set(stack, node, has_secret=True)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == image_of(node)
    assert [p["containerPort"] for p in container["ports"]] == list(facet.ports.values())
    assert container["volumeMounts"][0]["mountPath"] == facet.data_path
    assert pod.get("securityContext", {}).get("fsGroup") == facet.fs_group


@pytest.mark.parametrize("kind", container_kinds())
def test_every_kind_has_a_probe_in_all_three_forms(stack, kind: str) -> None:
    node = stack.nodes[f"c_{kind}"]
    spec = stack.probe(node)
    probe = probe_type(spec.type)
    closed = closed_port()
    ok, detail = run(dataclasses.replace(spec, params={**spec.params, "port": closed, "management_port": closed}, timeout_seconds=1))
    assert ok is False and detail  # a refusing target is an answer, never a ProbeBug
    test = compose.render(stack)["services"][node.name]["healthcheck"]["test"]
    assert test == probe.compose_test(spec.params, _compose_where(stack, node)) and test[0] in ("CMD", "CMD-SHELL")
    probes = k8s_objects.probes(stack, node)
    assert set(probes) == {"startupProbe", "readinessProbe", "livenessProbe"}
    assert {"httpGet", "tcpSocket", "exec"} & set(probes["readinessProbe"])


def _compose_where(stack, node) -> InContainer:
    from stapel.render.compose_vars import Refs, compose_target, escape

    target = compose_target(Refs())
    return InContainer(port=container_of(node).ports["main"], http_client=container_of(node).http_client,
                       secret=lambda key, value: target.secret(node, key, value), text=escape)


def test_recorded_probes_run_in_a_fresh_process(stack) -> None:
    """`stapel check` and the no-op `up` run probes read back from JSON, before any kind module is imported."""
    import subprocess
    import sys

    types = sorted({stack.probe(node).type for node in stack.components()})
    code = ("import sys; from stapel.components.probing import run; from stapel.probes import ProbeSpec; "
            f"print([run(ProbeSpec(t, {{'port': {closed_port()}, 'management_port': 1}}, timeout_seconds=1))[0] for t in {types!r}])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, str([False] * len(types))), done.stderr
    assert {"postgres", "redis", "http"} <= set(types)


def test_an_unknown_probe_type_is_a_bug_naming_the_known_ones() -> None:
    from stapel.probes import ProbeBug, ProbeSpec

    with pytest.raises(ProbeBug, match=r"no probe type 'smtp' is registered \(known: .*exec, http.*tcp\)"):
        run(ProbeSpec("smtp", {"port": 1}))


def test_the_version_picks_the_tag_by_the_kinds_rule() -> None:
    versioned = type("Config", (), {"version": "3.12"})()
    assert kind_module("rabbitmq").CONTAINER.image_for(versioned) == "rabbitmq:3.12-management"
    assert kind_module("postgres").CONTAINER.image_for(versioned) == "postgres:3.12"


def test_a_kind_that_names_no_resources_gets_the_defaults(stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a KeyError (exit 3) when render/k8s_objects.py's table lacked the kind."""
    module = kind_module("consul")
    bare = Container(module.CONTAINER.image, module.CONTAINER.tag, module.CONTAINER.ports, module.CONTAINER.data_path)
    monkeypatch.setattr(module, "CONTAINER", bare)
    set_ = k8s_objects.stateful_set(stack, stack.nodes["c_consul"], has_secret=False)
    assert set_["spec"]["template"]["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                                                                              "limits": {"cpu": "500m", "memory": "256Mi"}}
    assert set_["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_render_and_probes_name_no_kind() -> None:
    """Renderers and probes ask the kinds; a kind's name in a string there is a branch on it."""
    import re

    src = Path(__file__).resolve().parents[2] / "src" / "stapel"
    pattern = re.compile("[\"'](" + "|".join(KINDS) + ")[\"']")
    found = [f"{path.relative_to(src)}:{n}" for folder in ("render", "probes") for path in sorted((src / folder).glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), start=1) if pattern.search(line)]
    assert found == []
