"""The model side of the kind contract, over every registered kind (components/__init__.py's KINDS): each config
model's `kind` is its registry key and a minimal block parses; each declares its monitoring, provisioning and
native-search facets with the right types; probe, exports and the native launch spec build; every list of kinds
(the schema's union, error messages, `stapel schema`) follows the registry, a kind registered here included.
The container side is tests/unit/test_kind_contract.py."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from stapel.components import KINDS as REGISTRY
from stapel.components import json_schema, kind_module, kinds, load, stack_model
from stapel.components.facets import BinarySearch, Exporter, MetricsEndpoint
from stapel.engine.stack import open_stack
from stapel.errors import ConfigError
from stapel.model.nodes import ComponentBase
from stapel.model.schema import kind_name
from stapel.runtimes.native import binaries
from stapel.runtimes.native.runtime import NativeContext

KINDS = tuple(REGISTRY)
NEEDS = {"external": {"serves": "postgres", "url": "postgresql://u:p@db.example.com/x"}}  # what an external one points at
RUN = tuple(k for k in KINDS if kind_module(k).CONFIG.RUNS)  # the kinds stapel starts (not external)


def test_the_registry_is_the_order_of_every_kind_list() -> None:
    assert tuple(kinds()) == KINDS
    assert stack_model().kind_names() == KINDS
    union = json_schema()["properties"]["components"]["additionalProperties"]
    assert [ref["$ref"].rsplit("/", 1)[1] for ref in union["oneOf"]] == [kind_module(k).CONFIG.__name__ for k in KINDS]


@pytest.mark.parametrize("kind", KINDS)
def test_the_config_model_is_the_registry_key_and_a_minimal_block_parses(kind: str) -> None:
    config = kind_module(kind).CONFIG
    assert isinstance(config, type) and issubclass(config, ComponentBase) and kind_name(config) == kind
    assert config.model_validate({"kind": kind, **NEEDS.get(kind, {})}).kind == kind
    parsed = stack_model().model_validate({"components": {"one": {"kind": kind, **NEEDS.get(kind, {})}}})
    assert type(parsed.components["one"]) is config
    block = parsed.components["one"]  # what model/ports.py asks, without importing the kind
    assert block.configured_ports() == kind_module(kind).configured_ports(block)
    assert ("main" in block.configured_ports()) is config.RUNS  # an external one has no local port
    assert block.internal_ports() == tuple(kind_module(kind).INTERNAL_PORTS)


@pytest.mark.parametrize("kind", KINDS)
def test_the_model_side_members_have_their_types(kind: str) -> None:
    module = kind_module(kind)
    config = module.CONFIG.model_validate({"kind": kind, **NEEDS.get(kind, {})})
    assert module.METRICS is None or (isinstance(module.METRICS, MetricsEndpoint) and module.METRICS.port in module.DEFAULT_PORTS)
    assert module.EXPORTER is None or isinstance(module.EXPORTER, Exporter)
    assert module.METRICS is None or module.EXPORTER is None  # an exporter only stands in for a missing endpoint
    assert isinstance(module.DASHBOARDS, tuple)
    for uid, title, panels in module.DASHBOARDS:
        assert uid.startswith("stapel-") and title and all(len(panel) == 3 and panel[2] for panel in panels)
    assert module.GRAFANA_DATASOURCE is None or isinstance(module.GRAFANA_DATASOURCE, str)
    assert isinstance(module.SCRAPES_STACK, bool) and isinstance(module.SHOWS_STACK, bool) and isinstance(module.DATABASE, bool)
    assert module.scrape_key(config) is None or isinstance(module.scrape_key(config), str)
    assert isinstance(module.BINARIES, BinarySearch) and binaries.install_hint(kind).startswith("install with: ")
    assert isinstance(module.input_files(config), list)
    if module.PROVISIONER is not None:
        provisioner = importlib.import_module(f"stapel.provision.{module.PROVISIONER}")
        assert all(callable(getattr(provisioner, name, None)) for name in ("wanted", "ensure", "apply"))


def test_exactly_the_monitoring_kinds_read_the_whole_stack() -> None:
    """One kind scrapes the stack and serves as the dashboards' datasource; one shows it (today Prometheus, Grafana)."""
    assert len([k for k in KINDS if kind_module(k).SCRAPES_STACK]) == 1
    assert len([k for k in KINDS if kind_module(k).SHOWS_STACK]) == 1
    assert [k for k in KINDS if kind_module(k).GRAFANA_DATASOURCE] == [k for k in KINDS if kind_module(k).SCRAPES_STACK]


class _Machine(NativeContext):
    """A native context whose binaries are named, not searched (what native() builds, not what is installed)."""

    def __init__(self, stack, bin_dir: Path):
        super().__init__(stack)
        self.bin_dir = bin_dir

    def binaries(self, node, programs):
        return {program.split("|")[0]: str(self.bin_dir / program.split("|")[0]) for program in programs}

    def binary_version(self, node, programs):
        return None


@pytest.fixture(scope="module")
def every(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("registry")
    blocks = "\n".join(f"  c_{kind}: {{kind: {kind}}}" for kind in RUN)
    (root / "stapel.yaml").write_text(f"name: every\ncomponents:\n{blocks}\n")
    home = root / "opt"
    (home / "bin").mkdir(parents=True)
    (home / "conf").mkdir()
    (home / "conf" / "defaults.ini").write_text("")  # what Grafana's homepath() looks for beside bin/
    return open_stack(root / "stapel.yaml", None, env={}), home / "bin"


@pytest.mark.parametrize("kind", RUN)
def test_probe_exports_and_native_spec_build(every, kind: str) -> None:
    stack, bin_dir = every
    node = stack.nodes[f"c_{kind}"]
    assert stack.probe(node).type
    assert stack.exports(node).by_name["PORT"] == str(node.port)  # what a service gets as <NODE>_PORT
    spec = kind_module(kind).native(node, _Machine(stack, bin_dir))
    assert spec.name == node.name and spec.argv and spec.argv[0].startswith(str(bin_dir)) and spec.spec_hash


@pytest.fixture
def extra_kind(monkeypatch: pytest.MonkeyPatch):
    """A kind registered only here: a module with a config model, in the registry's last line."""
    from pydantic import Field

    module = types.ModuleType("stapel_test_memcached")

    class Memcached(ComponentBase):
        kind: Literal["memcached"]
        memory_mb: int = Field(64, ge=1)

        DEFAULT_PROFILES: ClassVar[tuple[str, ...]] = ()

    module.CONFIG = Memcached
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(REGISTRY, "memcached", module.__name__)
    kinds.cache_clear()
    yield module
    kinds.cache_clear()


def test_a_registered_kind_is_in_the_schema_and_the_errors(extra_kind, tmp_path: Path) -> None:
    assert "memcached" in json_schema()["properties"]["components"]["additionalProperties"]["discriminator"]["mapping"]
    file = tmp_path / "stapel.yaml"
    file.write_text("components:\n  cache: {kind: memcached, memory_mb: 128}\n  other: {port: 5}\n  third: {kind: memcachd}\n")
    with pytest.raises(ConfigError) as info:
        load(file, env={})
    lines = info.value.lines()
    assert f"stapel.yaml:3: components.other: 'kind' is missing (one of {', '.join(KINDS)}, memcached)" in lines
    assert "stapel.yaml:4: components.third.kind: unknown kind 'memcachd'; did you mean 'memcached'?" in lines
    assert len(lines) == 2  # the new kind's block itself is valid
