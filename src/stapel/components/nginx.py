"""nginx: a reverse proxy in front of the stack's services (seed 003), from one generated nginx.conf.

`routes: {/api: api, /: frontend}` maps URL prefixes to nodes of the stack (services or components); the URI is
passed on unchanged (`/api/users` reaches api as `/api/users`), with Host, X-Forwarded-* and WebSocket upgrades
(a frontend dev server's hot reload). Natively each route points at 127.0.0.1 and the target's port as used (a
moved port moves the route: the config is in the launch spec's hash basis, so nginx restarts with it); in a
container at the target's service name and container port.

Natively Debian's nginx (nginx-light is enough) runs in the foreground (`daemon off`) with `-p <conf dir> -e stderr`
and every path it writes in the config (pid, temp folders), so nothing touches /etc/nginx, /var/log/nginx or
/var/lib/nginx: the config and pid under .local/run, the temp folders under .local/data. As root the master binds
(80 may be used) and the workers, who read the requests, run as an unprivileged user (`run_as`, default nobody):
their temp folders are that user's (a stand-in when the project is out of its reach, see standin.py).

Ready when `/_stapel/health` answers on its port: that location is nginx's own, so nginx is healthy before the
services behind it run (components start before services).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

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
from stapel.components.facets import BinarySearch, Dashboard, Exporter, MetricsEndpoint, no_input_files, no_scrape_key
from stapel.env.connections import HOST
from stapel.errors import PreflightError
from stapel.model.nodes import ComponentBase
from stapel.private import write_private
from stapel.probes import ProbeSpec

DEFAULT_PORTS = {"main": 80}
INTERNAL_PORTS: tuple[str, ...] = ()
PROGRAMS = ["nginx"]
HEALTH_PATH = "/_stapel/health"
# Host as the client sent it, port included (an app building its own URLs behind the proxy needs the port)
PROXY_HEADERS = [("Host", "$http_host"), ("X-Real-IP", "$remote_addr"), ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
                 ("X-Forwarded-Proto", "$scheme"), ("Upgrade", "$http_upgrade"), ("Connection", "$connection_upgrade")]
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")  # each compiled in: each has a default under /var/lib/nginx


def _routes(value):
    if isinstance(value, dict):
        for prefix in value:
            if not re.fullmatch(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*", str(prefix)) or "//" in str(prefix):
                raise PydanticCustomError("route", "'{prefix}' is not a URL path prefix: start with / (e.g. /api or /)",
                                          {"prefix": prefix})
    return value


class Nginx(ComponentBase):
    kind: Literal["nginx"]
    routes: dict[str, str] = Field(default_factory=dict, description="URL path prefix -> the service or component it is "
                                   "proxied to (the URI passed on unchanged), e.g. {/api: api, /: frontend}.")
    run_as: str | None = Field(None, description="The workers' unprivileged user when stapel runs as root; default: nobody.")
    client_max_body_size: str = Field("10m", pattern=r"^\d+[kKmMgG]?$", description="Largest request body (nginx's size syntax).")

    _routes = field_validator("routes", mode="before")(lambda cls, v: _routes(v))

    def configured_ports(self) -> dict[str, int]:
        return configured_ports(self)  # this module's, below

    def internal_ports(self) -> tuple[str, ...]:
        return INTERNAL_PORTS

    def stack_problems(self, name: str, nodes: dict[str, Any]) -> list[str]:
        """Each route names another node of the stack, one with a port."""
        from stapel.model.base import did_you_mean

        found = []
        for prefix, target in self.routes.items():
            where = f"components.{name}.routes.{prefix}"
            if target == name:
                found.append(f"{where}: nginx cannot proxy to itself; name a service or another component")
            elif target not in nodes:
                found.append(f"{where}: unknown name '{target}'{did_you_mean(target, sorted(set(nodes) - {name}))}")
            elif not hasattr(nodes[target], "kind") and nodes[target].port is None:
                found.append(f"{where}: services.{target} has no port to proxy to; give it one")
        return found


CONFIG = Nginx


def configured_ports(config) -> dict[str, int]:
    return {"main": config.port or DEFAULT_PORTS["main"]}


def binary_version(bins: dict[str, str], run) -> BinaryVersion | None:
    """`nginx version: nginx/1.22.1` (on stderr) -> nginx 1.22.1."""
    found = re.search(r"nginx/(\d+(?:\.\d+)+)", run([bins["nginx"], "-v"]))
    return BinaryVersion("nginx", found.group(1)) if found else None


def version_sources(wanted: tuple[int, ...]) -> dict[str, str]:
    return {"apt": "nginx-light", "brew": "nginx", "note": "nginx.org's own apt repository has every stable and mainline version"}


def probe(node: Node) -> ProbeSpec:
    default = ProbeSpec("http", {"port": node.port, "path": HEALTH_PATH}, period_seconds=0.05, failure_threshold=400)
    return probe_from_config(node, default)


exports = base.http_endpoint_exports  # <NAME>_URL/_HOST/_PORT; no kind-wide names (a stack may run several)
secrets = base.no_secrets


def targets(node: Node, nodes: dict[str, Node]) -> dict[str, Node]:
    """Each route's prefix -> its target node (stack_problems checked them when stapel.yaml was loaded)."""
    return {prefix: nodes[name] for prefix, name in node.config.routes.items()}


def render(node: Node, listen: str, upstreams: dict[str, str], head: list[str], temp: str | None = None,
           resolver: str | None = None) -> str:
    """nginx.conf: `listen` (127.0.0.1:8080 or 80), each route's prefix -> upstream (host:port), `head` the main-context
    lines of the runtime (pid, user), `temp` the folder of the temp paths (None: the build's defaults, in a container);
    with `resolver` (Compose's DNS) the upstream names are looked up per request, so nginx starts before the services
    behind it exist."""
    c = node.config
    lines = [f"# generated by stapel for components.{node.name}: edits are overwritten on the next up",
             "worker_processes 1;", *head, "error_log stderr notice;", "", "events {", "    worker_connections 512;", "}", "",
             "http {", "    access_log /dev/stderr;", "    default_type application/octet-stream;",
             f"    client_max_body_size {c.client_max_body_size};", "    server_tokens off;"]
    if temp:
        lines += [f"    {kind}_temp_path {temp}/{kind};" for kind in TEMP_KINDS]
    lines += ["    map $http_upgrade $connection_upgrade {", "        default upgrade;", "        '' close;", "    }", "",
              *([f"    resolver {resolver} valid=10s ipv6=off;"] if resolver else []),
              "    server {", f"        listen {listen};", "        proxy_http_version 1.1;",
              *(f"        proxy_set_header {name} {value};" for name, value in PROXY_HEADERS),
              f"        location = {HEALTH_PATH} {{", "            access_log off;", "            default_type text/plain;",
              '            return 200 "ok\\n";', "        }"]
    for prefix in sorted(upstreams, key=len, reverse=True):  # longest first: easier to read (nginx picks the longest anyway)
        exact = prefix.rstrip("/") or "/"
        for form in ([f"= {exact}", f"{exact}/"] if exact != "/" else ["/"]):  # /api and /api/..., never /apix
            to = ([f"            set $upstream http://{upstreams[prefix]};", "            proxy_pass $upstream;"] if resolver
                  else [f"            proxy_pass http://{upstreams[prefix]};"])  # a variable without a URI passes the URI as is
            lines += [f"        location {form} {{", *to, "        }"]
    if not any((prefix.rstrip("/") or "/") == "/" for prefix in upstreams):  # no route for the rest: never files from disk
        lines += ["        location / {", "            return 404;", "        }"]
    return "\n".join([*lines, "    }", "}", ""])


def _user(node: Node, ctx) -> str | None:
    return ctx.run_as(node.config.run_as or "nobody")


def _conf_dir(node: Node, ctx) -> Path:
    return Path(os.path.abspath(ctx.paths.conf(node.name)))


def _temp_dir(node: Node, ctx, user: str | None, create: bool = False) -> Path:
    return ctx.server_dir(Path(os.path.abspath(ctx.paths.data(node.name))), user, create=create)


def native_config(node: Node, ctx) -> str:
    """The native nginx.conf: 127.0.0.1 and the targets' ports as used."""
    user = _user(node, ctx)
    head = ["daemon off;", f"pid {_conf_dir(node, ctx) / 'nginx.pid'};"]
    if user:
        head.append(f"user {user} {grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name};")
    upstreams = {prefix: f"{HOST}:{target.port}" for prefix, target in targets(node, ctx.stack.nodes).items()}
    return render(node, f"{HOST}:{node.port}", upstreams, head, str(_temp_dir(node, ctx, user) / "temp"))


def native(node: Node, ctx) -> LaunchSpec:
    bins = ctx.binaries(node, PROGRAMS)
    if node.port is not None and node.port < 1024 and os.geteuid() != 0:
        raise PreflightError(f"components.{node.name}.port: {node.port} is a privileged port, only root binds it",
                             hint=f"set components.{node.name}.port to 1024 or above, e.g. 8000")
    conf = _conf_dir(node, ctx)
    text = native_config(node, ctx)
    return LaunchSpec(
        name=node.name,
        role="component",
        argv=[bins["nginx"], "-p", f"{conf}/", "-c", str(conf / "nginx.conf"), "-e", "stderr", *node.config.args],
        env=component_env(node),
        cwd=str(conf),
        log=str(ctx.paths.log(node.name)),
        stop_signal=int(signal.SIGQUIT),  #: graceful, requests in flight finish (SIGTERM is nginx's fast shutdown)
        stop_timeout=10.0,
        restart=restart_of(node.config),
        hash_basis={"bin": bins["nginx"], "conf": text, "args": node.config.args, "env": node.config.env},
    )


def prepare(node: Node, ctx) -> None:
    """nginx.conf under .local/run, the temp folders' parent the workers' (nginx makes the folders themselves)."""
    user = _user(node, ctx)
    temp = _temp_dir(node, ctx, user, create=True)
    ctx.make_private_dir(temp, user)
    ctx.make_private_dir(temp / "temp", user)
    ctx.make_private_dir(ctx.paths.conf(node.name), None)
    write_private(_conf_dir(node, ctx) / "nginx.conf", native_config(node, ctx))


# ---- monitoring, provisioning, native search (components/facets.py)
METRICS: MetricsEndpoint | None = None  # stub_status is not Prometheus' format
EXPORTER: Exporter | None = None
DASHBOARDS: tuple[Dashboard, ...] = ()
GRAFANA_DATASOURCE: str | None = None
SCRAPES_STACK = False
SHOWS_STACK = False
scrape_key = no_scrape_key
PROVISIONER: str | None = None
BINARIES = BinarySearch(dirs=["/usr/sbin", "/opt/homebrew/bin", "/usr/local/bin"], apt="nginx-light", brew="nginx",
                        compose_instead=True)  # Debian's nginx is in /usr/sbin, off a user's PATH
DATABASE = False
input_files = no_input_files


# ---- the container facet: the official image with the generated nginx.conf mounted (Compose: a file beside
# compose.yaml; Kubernetes: a ConfigMap), routes to the targets' service names and container ports. The image runs
# `nginx -g 'daemon off;'` itself and keeps its temp folders in /var/cache/nginx (the volume).
CONTAINER = Container("nginx", "1.27.3-alpine", {"main": 80}, "/var/cache/nginx",
                      resources=Resources("20m", "16Mi", "500m", "128Mi", "256Mi"), http_client="wget")
container_env, container_args, job_env = base.container_env, base.container_args, base.job_env  # the contract's defaults, kept
CONFIG_PATH = "/etc/nginx/nginx.conf"
COMPOSE_DNS = "127.0.0.11"  # Docker's embedded DNS server in every user-defined network


def container_files(stack: Any, node: Node, host_of: Callable[[str], str], target: str = "compose") -> dict[str, str]:
    """/etc/nginx/nginx.conf inside the network: each route to its target's host there and container port. In Compose
    a name resolves only once its container runs (a service may start after nginx, or not at all in a profile): names
    are looked up per request through Docker's DNS; a Kubernetes Service's name exists before its pods."""
    from stapel.components.container import container_ports

    def where(target: Node) -> str:
        return f"{host_of(target.name)}:{target.port if target.is_service else container_ports(target)['main']}"

    upstreams = {prefix: where(target) for prefix, target in targets(node, stack.nodes).items()}
    resolver = COMPOSE_DNS if target == "compose" else None
    return {CONFIG_PATH: render(node, str(CONTAINER.ports["main"]), upstreams, ["user nginx;"], resolver=resolver)}


if TYPE_CHECKING:  # mypy holds this module to the kind contract (components/contract.py)
    from stapel.components import nginx as _this
    from stapel.components.contract import Kind

    _CONTRACT: Kind = _this
