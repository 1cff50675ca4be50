"""Grafana: `grafana server` (Grafana >= 10) or `grafana-server`, with the stack's datasource and dashboards provisioned.

Everything it writes lives under .local (GF_PATHS_DATA/LOGS/PLUGINS under the data dir, GF_PATHS_PROVISIONING under
the conf dir: monitoring/grafana.py's files, native view, handed in as ctx.stack_files). The admin user and password come through its
environment (GF_SECURITY_ADMIN_*), never argv; Grafana applies them when it creates its database, so a later
password change needs `grafana cli admin reset-admin-password` (or `stapel down --volumes`).
Grafana is not in Debian and not on PyPI: without a binary, the error names its apt repository, Homebrew and
`--runtime compose`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from stapel.components import base
from stapel.components.base import (
    BinaryVersion,
    Container,
    LaunchSpec,
    Node,
    Resources,
    Target,
    component_env,
    probe_from_config,
    restart_of,
)
from stapel.components.facets import BinarySearch, Dashboard, Exporter, MetricsEndpoint, no_input_files, no_scrape_key
from stapel.env.connections import HOST, Exports, http_url
from stapel.errors import PreflightError
from stapel.model.nodes import ComponentBase
from stapel.private import write_private
from stapel.probes import ProbeSpec

if TYPE_CHECKING:
    from stapel.model.schema import Use


class Grafana(ComponentBase):
    kind: Literal["grafana"]
    user: str = "admin"
    password: str = "admin"
    dashboards: list[str] = Field(default_factory=list, description=(
        "The project's own dashboards: Grafana JSON files, or folders of them (their *.json), relative to the project "
        "root; provisioned beside stapel's (folder stapel), natively, in Compose and in Kubernetes."))

    DEFAULT_PROFILES: ClassVar[tuple[str, ...]] = ("monitoring",)

    def configured_ports(self) -> dict[str, int]:
        return configured_ports(self)  # this module's, below

    def internal_ports(self) -> tuple[str, ...]:
        return INTERNAL_PORTS


CONFIG = Grafana


DEFAULT_PORTS = {"main": 3000}
INTERNAL_PORTS: tuple[str, ...] = ()
PROGRAMS = ["grafana|grafana-server"]


# ---- in a container: the image runs as uid 472 and writes its volume (fsGroup)
CONTAINER = Container("grafana/grafana", "11.2.0", {"main": 3000}, "/var/lib/grafana", fs_group=472,
                      resources=Resources("50m", "128Mi", "500m", "512Mi", "1Gi"), secret_env={"GF_SECURITY_ADMIN_PASSWORD": "PASSWORD"})
container_args, job_env = base.container_args, base.job_env  # the contract's defaults, kept


def container_env(node: Node, target: Target) -> dict[str, str]:
    return {"GF_SECURITY_ADMIN_USER": node.config.user, "GF_SECURITY_ADMIN_PASSWORD": node.config.password}


def binary_version(bins: dict[str, str], run) -> BinaryVersion | None:
    """`grafana version 11.2.0` (grafana) or `Version 11.2.0 (commit: ...)` (grafana-server) -> Grafana 11.2.0."""
    found = re.search(r"[Vv]ersion v?(\d+(?:\.\d+)+)|^\S+ v?(\d+(?:\.\d+)+)", run([bins["grafana"], "-v"]), re.MULTILINE)
    return BinaryVersion("Grafana", found.group(1) or found.group(2)) if found else None


def version_sources(wanted: tuple[int, ...]) -> dict[str, str]:
    return {"brew": "grafana", "note": "Grafana's apt repository has every version (https://apt.grafana.com)"}
INSTALL = ("install Grafana from its apt repository (https://apt.grafana.com, then: apt-get install grafana) or with "
           "`brew install grafana`, or set bin_dir to its bin folder, or run the stack with --runtime compose")
_QUIET_PROVISIONING = ("plugins", "alerting")  # folders Grafana reads at start: empty, so it does not log errors


def configured_ports(config) -> dict[str, int]:
    return {"main": config.port or DEFAULT_PORTS["main"]}


def probe(node: Node) -> ProbeSpec:
    default = ProbeSpec("http", {"port": node.port, "path": "/api/health"}, period_seconds=0.1, failure_threshold=600)
    return probe_from_config(node, default)


def exports(node: Node, use: Use | None = None) -> Exports:
    """GRAFANA_URL; a use has nothing to narrow here."""
    url = http_url(node.main_port)
    return Exports({"GRAFANA_URL": url}, {"URL": url, "HOST": HOST, "PORT": str(node.main_port), "USER": node.config.user})


def secrets(config) -> list[str]:
    return [config.password]


def homepath(exe: str) -> str | None:
    """Grafana's home (conf/defaults.ini, public/): beside bin/ (tarball, /usr/share/grafana), share/grafana (Homebrew)."""
    real = Path(exe).resolve()
    for folder in (real.parent.parent, real.parent.parent / "share" / "grafana", Path("/usr/share/grafana")):
        if (folder / "conf" / "defaults.ini").is_file():
            return str(folder)
    return None


def _binary(node: Node, ctx) -> tuple[str, str]:
    where = f"components.{node.name}"
    try:
        exe = ctx.binaries(node, PROGRAMS)["grafana"]
    except PreflightError:
        raise PreflightError(f"{where}: Grafana needs `grafana` (or `grafana-server`), not found on PATH, in bin_dir or in "
                             "/usr/share/grafana/bin", hint=INSTALL) from None
    home = homepath(exe)
    if home is None:
        raise PreflightError(f"{where}: found {exe}, but no Grafana home (a folder with conf/defaults.ini) beside it",
                             hint="set bin_dir to the bin folder of a complete Grafana install (e.g. /usr/share/grafana/bin)")
    return exe, home


def _provisioning(node: Node, ctx) -> dict[str, str]:
    """Its provisioning tree from the whole stack (SHOWS_STACK: ctx.stack_files gives monitoring/grafana.py's)."""
    return ctx.stack_files(node, str(ctx.paths.conf(node.name) / "provisioning"))


def native(node: Node, ctx) -> LaunchSpec:
    exe, home = _binary(node, ctx)
    c, conf, data = node.config, ctx.paths.conf(node.name), ctx.paths.data(node.name)
    env = component_env(node, {
        "GF_PATHS_DATA": str(data), "GF_PATHS_LOGS": str(data / "log"), "GF_PATHS_PLUGINS": str(data / "plugins"),
        "GF_PATHS_PROVISIONING": str(conf / "provisioning"),
        "GF_SERVER_HTTP_ADDR": "127.0.0.1", "GF_SERVER_HTTP_PORT": str(node.port),
        "GF_SECURITY_ADMIN_USER": c.user, "GF_SECURITY_ADMIN_PASSWORD": c.password,
        "GF_ANALYTICS_REPORTING_ENABLED": "false", "GF_ANALYTICS_CHECK_FOR_UPDATES": "false", "GF_LOG_MODE": "console",
    })
    argv = [exe, "server"] if Path(exe).name == "grafana" else [exe]
    hashed = {**env, "GF_SECURITY_ADMIN_PASSWORD": hashlib.sha256(c.password.encode()).hexdigest()}
    return LaunchSpec(
        name=node.name,
        role="component",
        argv=[*argv, f"--homepath={home}", *c.args],
        env=env,
        cwd=str(data),
        log=str(ctx.paths.log(node.name)),
        restart=restart_of(c),
        hash_basis={"bin": exe, "home": home, "env": hashed, "args": c.args, "provisioning": _provisioning(node, ctx)},
    )


def prepare(node: Node, ctx) -> None:
    conf, data = ctx.paths.conf(node.name), ctx.paths.data(node.name)
    ctx.make_private_dir(data, None)
    root = conf / "provisioning"
    for folder in (root, *(root / name for name in _QUIET_PROVISIONING)):
        ctx.make_private_dir(folder, None)
    for rel, text in _provisioning(node, ctx).items():
        path = root / rel
        ctx.make_private_dir(path.parent, None)
        write_private(path, text)


# ---- monitoring, provisioning, native search (components/facets.py): what monitoring/, provision/ and
# runtimes/native/binaries.py ask of this kind
METRICS: MetricsEndpoint | None = MetricsEndpoint()
EXPORTER: Exporter | None = None
DASHBOARDS: tuple[Dashboard, ...] = ()
GRAFANA_DATASOURCE: str | None = None  # the Grafana datasource type it serves as
SCRAPES_STACK = False  # reads the stack's scrape config (prometheus.yml of monitoring/prometheus.py)
SHOWS_STACK = True  # reads the stack's Grafana provisioning (monitoring/grafana.py)
scrape_key = no_scrape_key
PROVISIONER: str | None = None  # its module under stapel.provision (declared, ensure, run)
BINARIES = BinarySearch(dirs=["/usr/share/grafana/bin", "/opt/homebrew/bin"], brew="grafana", compose_instead=True)
DATABASE = False  # `stapel db` and stapel.testing's databases work on it
input_files = no_input_files


if TYPE_CHECKING:  # mypy holds this module to the kind contract (components/contract.py)
    from stapel.components import grafana as _this
    from stapel.components.contract import Kind

    _CONTRACT: Kind = _this
