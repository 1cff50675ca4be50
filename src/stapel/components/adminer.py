"""Adminer: the one-file database UI of seed 003 (one per contour, on 8080/8081/8082), natively `php -S` over the
system's Adminer (Debian's `adminer` package: /usr/share/adminer/adminer.php, which serves its own stylesheet and
scripts through `?file=...`, so no document root is needed beyond a generated router).

`server: db` points the login form at a postgres component of the stack: PostgreSQL chosen, its address (natively
127.0.0.1 and its port as used) and its superuser's name filled in; the password is never written anywhere. The
router does it by giving a bare `/` the query Adminer's own links use (`?pgsql=127.0.0.1:5433&username=postgres`).

Everything PHP writes (sessions, Adminer's login-throttle files) lives under the component's data folder; as root,
PHP runs as an unprivileged user (`run_as`, default nobody) who owns that folder (a stand-in when the project is out
of its reach, see standin.py). Without PHP, its pgsql extension or Adminer, preflight names the packages.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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
from stapel.env.connections import HOST
from stapel.errors import PreflightError
from stapel.model.nodes import ComponentBase
from stapel.private import write_private
from stapel.probes import ProbeSpec

DEFAULT_PORTS = {"main": 8080}
INTERNAL_PORTS: tuple[str, ...] = ()
PROGRAMS = ["php"]
ADMINER_FILES = ["/usr/share/adminer/adminer.php",  # Debian, Ubuntu (package adminer)
                 "/usr/share/webapps/adminer/index.php"]  # Arch (package adminer)
INSTALL = "install with: apt-get install -y php-cli php-pgsql adminer, or use --runtime compose (the adminer image)"
PROBE_PATH = "/?file=favicon.ico"  # served by Adminer itself: PHP and Adminer both work, no session is opened


class Adminer(ComponentBase):
    kind: Literal["adminer"]
    server: str | None = Field(None, description="A postgres component the login form is pointed at (PostgreSQL chosen, its "
                               "address and superuser filled in).")
    run_as: str | None = Field(None, description="PHP's unprivileged user when stapel runs as root; default: nobody.")
    adminer_php: str | None = Field(None, description="Adminer's adminer.php; default: the system package's.")

    def configured_ports(self) -> dict[str, int]:
        return configured_ports(self)  # this module's, below

    def internal_ports(self) -> tuple[str, ...]:
        return INTERNAL_PORTS

    def stack_problems(self, name: str, nodes: dict[str, Any]) -> list[str]:
        """`server:` names a component that speaks PostgreSQL."""
        from stapel.model.base import did_you_mean

        if self.server is None:
            return []
        where, target = f"components.{name}.server", nodes.get(self.server)
        postgres = sorted(n for n, config in nodes.items() if speaks(config) == "postgres")
        if target is None:
            return [f"{where}: unknown name '{self.server}'"
                    f"{did_you_mean(self.server, postgres) if postgres else ' (the stack has no postgres component)'}"]
        if speaks(target) != "postgres":
            return [f"{where}: '{self.server}' is {speaks(target)}, not postgres; name a postgres component"]
        return []


def speaks(config: Any) -> str:
    """The protocol a node's config serves: its kind, or what an external endpoint serves; `service` for services."""
    return str(getattr(config, "serves", None) or getattr(config, "kind", "service"))


CONFIG = Adminer


def configured_ports(config) -> dict[str, int]:
    return {"main": config.port or DEFAULT_PORTS["main"]}


def binary_version(bins: dict[str, str], run) -> BinaryVersion | None:
    """`PHP 8.2.36 (cli) (built: ...)` -> PHP 8.2.36 (`version:` is the image tag, Adminer's, in containers)."""
    found = re.search(r"^PHP (\d+(?:\.\d+)+)", run([bins["php"], "--version"]), re.MULTILINE)
    return BinaryVersion("PHP", found.group(1)) if found else None


def version_sources(wanted: tuple[int, ...]) -> dict[str, str]:
    return {"apt": "php-cli", "brew": "php", "note": "`version:` is Adminer's image tag in containers; natively it matches PHP"}


def probe(node: Node) -> ProbeSpec:
    default = ProbeSpec("http", {"port": node.port, "path": PROBE_PATH}, period_seconds=0.05, failure_threshold=400)
    return probe_from_config(node, default)


exports = base.http_endpoint_exports  # <NAME>_URL/_HOST/_PORT; no kind-wide names (a stack may run several)
secrets = base.no_secrets


def server_of(node: Node, nodes: dict[str, Node]) -> Node | None:
    """The postgres component `server:` names (stack_problems checked it when stapel.yaml was loaded)."""
    return nodes[node.config.server] if node.config.server else None


def router(node: Node, adminer_php: str, server: str | None, username: str | None) -> str:
    """The PHP script `php -S` sends every request to: the login form's defaults, then Adminer itself."""
    lines = ["<?php", f"// generated by stapel for components.{node.name}: edits are overwritten on the next up"]
    if server:
        lines += ["if (($_SERVER['QUERY_STRING'] ?? '') === '') {  // a bare / : the form pointed at the stack's PostgreSQL",
                  f"    $_GET['pgsql'] = {_php_string(server)};", f"    $_GET['username'] = {_php_string(username or '')};", "}"]
    lines += [f"include {_php_string(adminer_php)};", ""]
    return "\n".join(lines)


def _php_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _adminer_php(node: Node) -> str:
    wanted = node.config.adminer_php
    for path in ([wanted] if wanted else ADMINER_FILES):
        if os.path.isfile(path) and os.access(path, os.R_OK):
            return path
    where = wanted or " or ".join(ADMINER_FILES)
    raise PreflightError(f"components.{node.name}: adminer needs Adminer's adminer.php, not found at {where}",
                         hint=f"set components.{node.name}.adminer_php to it, or {INSTALL}" if wanted else INSTALL)


def _php(node: Node, ctx) -> str:
    try:
        php = ctx.binaries(node, PROGRAMS)["php"]
    except PreflightError:
        raise PreflightError(f"components.{node.name}: adminer needs PHP (php-cli), not found "
                             f"{'in ' + node.config.bin_dir if node.config.bin_dir else 'on PATH'}", hint=INSTALL) from None
    modules = ctx.probes.run([php, "-m"]).split()  # nothing: it did not answer (its start will say why)
    if modules and "pgsql" not in modules and "pdo_pgsql" not in modules:
        raise PreflightError(f"components.{node.name}: {php} has no PostgreSQL extension (pgsql)",
                             hint="install with: apt-get install -y php-pgsql (the one of that PHP)")
    return php


def _user(node: Node, ctx) -> str | None:
    return ctx.run_as(node.config.run_as or "nobody")


def _home(node: Node, ctx, user: str | None, create: bool = False) -> Path:
    """The router, sessions and temp files: PHP's user's folder."""
    return ctx.server_dir(Path(os.path.abspath(ctx.paths.data(node.name))), user, create=create)


def _router_text(node: Node, ctx) -> str:
    target = server_of(node, ctx.stack.nodes)
    if target is None:
        return router(node, _adminer_php(node), None, None)
    details = ctx.stack.exports(target).by_name  # a local postgres or an external one: where it is, its superuser
    return router(node, _adminer_php(node), f"{details['HOST']}:{details['PORT']}", details["USER"])


def native(node: Node, ctx) -> LaunchSpec:
    php = _php(node, ctx)
    user = _user(node, ctx)
    home = _home(node, ctx, user)
    text = _router_text(node, ctx)
    argv = [php, "-d", f"session.save_path={home / 'sessions'}", "-d", f"upload_tmp_dir={home / 'tmp'}",
            "-d", "expose_php=0", "-d", "display_errors=0", "-d", "log_errors=1", *node.config.args,
            "-S", f"{HOST}:{node.port}", "-t", str(home), str(home / "router.php")]
    return LaunchSpec(
        name=node.name,
        role="component",
        argv=argv,
        env=component_env(node),
        cwd=str(home),
        log=str(ctx.paths.log(node.name)),
        user=user,
        restart=restart_of(node.config),
        hash_basis={"argv": argv, "router": text, "env": node.config.env, "user": user},
    )


def prepare(node: Node, ctx) -> None:
    user = _user(node, ctx)
    home = _home(node, ctx, user, create=True)
    for folder in (home, home / "sessions", home / "tmp"):
        ctx.make_private_dir(folder, user)
    write_private(home / "router.php", _router_text(node, ctx))
    ctx.chown(home / "router.php", user)


# ---- monitoring, provisioning, native search (components/facets.py)
METRICS: MetricsEndpoint | None = None
EXPORTER: Exporter | None = None
DASHBOARDS: tuple[Dashboard, ...] = ()
GRAFANA_DATASOURCE: str | None = None
SCRAPES_STACK = False
SHOWS_STACK = False
scrape_key = no_scrape_key
PROVISIONER: str | None = None
BINARIES = BinarySearch(dirs=["/opt/homebrew/bin", "/usr/local/bin"], apt="php-cli php-pgsql adminer", brew="php",
                        compose_instead=True)
DATABASE = False
input_files = no_input_files


# ---- the container facet: the official image (php -S on 8080 as user adminer), its login form's server from
# ADMINER_DEFAULT_SERVER: the postgres component's service name (its image listens on PostgreSQL's own 5432).
CONTAINER = Container("adminer", "4.8.1", {"main": 8080}, "/var/lib/stapel-adminer",  # Adminer keeps nothing: a small claim
                      resources=Resources("20m", "32Mi", "500m", "128Mi", "64Mi"), http_client="wget")
container_args, job_env = base.container_args, base.job_env  # the contract's defaults, kept


def container_env(node: Node, target: Target) -> dict[str, str]:
    server = node.config.server
    if server is None:
        return {}
    return {"ADMINER_DEFAULT_SERVER": server.lower().replace("_", "-") if target.name == "kubernetes" else server}


if TYPE_CHECKING:  # mypy holds this module to the kind contract (components/contract.py)
    from stapel.components import adminer as _this
    from stapel.components.contract import Kind

    _CONTRACT: Kind = _this
