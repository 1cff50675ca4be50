"""Prometheus: prometheus.yml generated from the whole stack (SCRAPES_STACK: ctx.stack_files gives monitoring/'s,
native view: 127.0.0.1 and the ports actually used); TSDB under the component's data dir. The config is in the launch spec's hash basis, so a
changed config (a new service, a moved port) restarts Prometheus and an unchanged one leaves it running. A Qdrant
API key its /metrics needs is written 0600 beside prometheus.yml (<qdrant>-api.key, named there by absolute path);
the basis holds the key's SHA-256, so a new key restarts Prometheus too and the key itself is in no pid file."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from stapel.components import base
from stapel.components.base import (
    BinaryVersion,
    Container,
    LaunchSpec,
    Node,
    Resources,
    component_env,
    probe_from_config,
    restart_of,
)
from stapel.components.facets import KEY_SUFFIX, BinarySearch, Dashboard, Exporter, MetricsEndpoint, no_input_files, no_scrape_key
from stapel.env.connections import HOST, Exports, http_url
from stapel.model.nodes import ComponentBase
from stapel.private import write_private
from stapel.probes import ProbeSpec

if TYPE_CHECKING:
    from stapel.model.schema import Use


class Prometheus(ComponentBase):
    kind: Literal["prometheus"]
    scrape_interval: str = "15s"

    DEFAULT_PROFILES: ClassVar[tuple[str, ...]] = ("monitoring",)

    def configured_ports(self) -> dict[str, int]:
        return configured_ports(self)  # this module's, below

    def internal_ports(self) -> tuple[str, ...]:
        return INTERNAL_PORTS


CONFIG = Prometheus


DEFAULT_PORTS = {"main": 9090}
INTERNAL_PORTS: tuple[str, ...] = ()
PROGRAMS = ["prometheus"]


# ---- in a container: the image runs as nobody (65534) and writes its volume (fsGroup); it has wget, not curl
CONTAINER = Container("prom/prometheus", "v2.54.1", {"main": 9090}, "/prometheus", fs_group=65534,
                      resources=Resources("100m", "256Mi", "1", "1Gi", "5Gi"), http_client="wget")
container_env, container_args, job_env = base.container_env, base.container_args, base.job_env  # the contract's defaults, kept


def binary_version(bins: dict[str, str], run) -> BinaryVersion | None:
    """`prometheus, version 2.42.0+ds (branch: ...)` -> Prometheus 2.42.0."""
    found = re.search(r"version (\d+(?:\.\d+)*)", run([bins["prometheus"], "--version"]))
    return BinaryVersion("Prometheus", found.group(1)) if found else None


def version_sources(wanted: tuple[int, ...]) -> dict[str, str]:
    return {"apt": "prometheus", "brew": "prometheus", "note": "release archives: https://prometheus.io/download/"}


def configured_ports(config) -> dict[str, int]:
    return {"main": config.port or DEFAULT_PORTS["main"]}


def probe(node: Node) -> ProbeSpec:
    default = ProbeSpec("http", {"port": node.port, "path": "/-/ready"}, period_seconds=0.05, failure_threshold=600)
    return probe_from_config(node, default)


def exports(node: Node, use: Use | None = None) -> Exports:
    """PROMETHEUS_URL; a use has nothing to narrow here."""
    url = http_url(node.main_port)
    return Exports({"PROMETHEUS_URL": url}, {"URL": url, "HOST": HOST, "PORT": str(node.main_port)})


secrets = base.no_secrets


def _conf(node: Node, ctx) -> Path:
    return Path(os.path.abspath(ctx.paths.conf(node.name)))


CONFIG_FILE = "prometheus.yml"


def _render(node: Node, ctx) -> str:
    """prometheus.yml; the scrapes' credential files (a Qdrant API key) lie beside it, named by absolute path."""
    return ctx.stack_files(node, str(_conf(node, ctx)))[CONFIG_FILE]


def _keys(node: Node, ctx) -> dict[str, str]:
    """{<qdrant>-api.key: its key}: the rest of what the stack gives it."""
    return {name: text for name, text in ctx.stack_files(node, str(_conf(node, ctx))).items() if name != CONFIG_FILE}


def native(node: Node, ctx) -> LaunchSpec:
    bins = ctx.binaries(node, PROGRAMS)
    conf = _conf(node, ctx) / CONFIG_FILE
    data = ctx.paths.data(node.name)
    return LaunchSpec(
        name=node.name,
        role="component",
        argv=[bins["prometheus"], f"--config.file={conf}", f"--storage.tsdb.path={data}",
              f"--web.listen-address=127.0.0.1:{node.port}", *node.config.args],
        env=component_env(node),
        cwd=str(data),
        log=str(ctx.paths.log(node.name)),
        restart=restart_of(node.config),
        hash_basis={"bin": bins["prometheus"], "conf": _render(node, ctx), "args": node.config.args, "env": node.config.env,
                    "port": node.port,  # and a new key restarts it, through its digest (the key is in no pid file)
                    "keys": {name: hashlib.sha256(key.encode()).hexdigest() for name, key in _keys(node, ctx).items()}},
    )


def prepare(node: Node, ctx) -> None:
    ctx.make_private_dir(ctx.paths.data(node.name), None)
    ctx.make_private_dir(ctx.paths.conf(node.name), None)
    conf, keys = _conf(node, ctx), _keys(node, ctx)
    for stale in conf.glob(f"*{KEY_SUFFIX}"):  # a key no longer in stapel.yaml does not stay on disk
        if stale.name not in keys:
            stale.unlink()
    for name, key in keys.items():
        write_private(conf / name, key)  # 0600: read by Prometheus, which runs as this user
    write_private(conf / CONFIG_FILE, _render(node, ctx))


# ---- monitoring, provisioning, native search (components/facets.py): what monitoring/, provision/ and
# runtimes/native/binaries.py ask of this kind
METRICS: MetricsEndpoint | None = MetricsEndpoint()
EXPORTER: Exporter | None = None
DASHBOARDS: tuple[Dashboard, ...] = ()
GRAFANA_DATASOURCE: str | None = "prometheus"  # the Grafana datasource type it serves as
SCRAPES_STACK = True  # reads the stack's scrape config (prometheus.yml of monitoring/prometheus.py)
SHOWS_STACK = False  # reads the stack's Grafana provisioning (monitoring/grafana.py)
scrape_key = no_scrape_key
PROVISIONER: str | None = None  # its module under stapel.provision (declared, ensure, run)
BINARIES = BinarySearch(dirs=["/opt/homebrew/bin", "/usr/local/bin"], apt="prometheus", brew="prometheus")
DATABASE = False  # `stapel db` and stapel.testing's databases work on it
input_files = no_input_files


if TYPE_CHECKING:  # mypy holds this module to the kind contract (components/contract.py)
    from stapel.components import prometheus as _this
    from stapel.components.contract import Kind

    _CONTRACT: Kind = _this
