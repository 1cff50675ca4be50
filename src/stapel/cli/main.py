"""Entry point. argparse, not Typer: `stapel --help` must start in under 0.2 s (Typer measured 0.23 s here)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

STARTED = time.monotonic()  # run summaries count the command's own start-up

from stapel import __version__  # noqa: E402 - the clock starts before stapel itself is imported

COMMANDS = {
    # name: (module, function, help)
    "up": ("stapel.cli.lifecycle", "cmd_up", "start what is missing, wait for health, provision, start services, verify"),
    "down": ("stapel.cli.lifecycle", "cmd_down", "stop everything (data is kept; --volumes deletes it)"),
    "status": ("stapel.cli.inspect", "cmd_status", "what runs, where, since when"),
    "check": ("stapel.cli.inspect", "cmd_check", "probe every part; exit 0 only when all are healthy"),
    "logs": ("stapel.cli.inspect", "cmd_logs", "show a component's or service's log"),
    "start": ("stapel.cli.lifecycle", "cmd_start", "start some services (and what they depend on)"),
    "stop": ("stapel.cli.lifecycle", "cmd_stop", "stop some services or components (--backend: every service, the infrastructure keeps running)"),
    "restart": ("stapel.cli.lifecycle", "cmd_restart", "restart some services or components"),
    "watch": ("stapel.cli.watch", "cmd_watch", "restart the services with watch: when their files change (the stack is up; Ctrl-C stops watching)"),
    "config": ("stapel.cli.config", "cmd_config", "print the resolved stack, secrets masked"),
    "schema": ("stapel.cli.config", "cmd_schema", "print the JSON Schema of stapel.yaml"),
    "render": ("stapel.cli.render", "cmd_render", "write the stack as Docker Compose or Kubernetes (kustomize base + an overlay per contour)"),
    "db": ("stapel.cli.db", "cmd_db", "database lifecycle: init (tables + seeds), seed, reset, drop"),
    "seed": ("stapel.cli.lifecycle", "cmd_seed", "load the services' seed data (new or changed seeds; --force: all)"),
    "env": ("stapel.cli.env", "cmd_env", "keep .env files in sync with their examples, check them, print a service's env"),
    "migrate": ("stapel.cli.migrate", "cmd_migrate", "goose-compatible SQL migrations: up, down, redo, status, create"),
    "dashboard": ("stapel.cli.dashboard", "cmd_dashboard", "a local web page of the stack: nodes, health, live logs, runs, env; restart buttons"),
    "provision": ("stapel.cli.provision", "cmd_provision", "declare RabbitMQ topology (vhosts, users, exchanges, queues, DLQs); --check lists drift"),
}


RUNTIMES = ("native", "compose")
RUNTIME_COMMANDS = ("up", "down", "status", "check", "logs", "start", "stop", "restart")  # what --runtime chooses for
NATIVE_ONLY = ("seed", "db")  # they run a native up


def _slot(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 99:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 99, got '{value}'")
    return int(value)


def _port(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got '{value}'")
    return int(value)


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    def common(short_file: bool, suppress: bool) -> argparse.ArgumentParser:
        """Global options, accepted before and after the command (after: no default, so before still counts)."""
        default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
        options = argparse.ArgumentParser(add_help=False)
        flags = ["-f", "--file"] if short_file else ["--file"]
        options.add_argument(*flags, default=default(None), help="stapel.yaml to use (default: ./stapel.yaml or the nearest parent's)")
        options.add_argument("--contour", default=default(None), help="contour to act on (default: $STAPEL_CONTOUR, else `contour:` in stapel.yaml, else dev)")
        options.add_argument("--slot", type=_slot, default=default(None), metavar="N",
                             help="numbered copy N of the contour: its own ports (+N * slot_stride), data, processes")
        options.add_argument("--runtime", choices=RUNTIMES, default=default(None),
                             help="native (default: $STAPEL_RUNTIME, else native) or compose: up/down/status/check/logs/"
                                  "start/stop/restart drive `docker compose` (or docker-compose) on the rendered contour")
        return options

    parser = argparse.ArgumentParser(
        prog="stapel", description="A service project's local infrastructure: one file, one command.",
        parents=[common(short_file=True, suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"stapel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parsers = {
        name: sub.add_parser(name, help=text, description=text, parents=[common(short_file=name != "logs", suppress=True)])
        for name, (_, _, text) in COMMANDS.items()
    }

    up = parsers["up"]
    up.add_argument("--attach", action="store_true", help="stay in the foreground with live status; Ctrl-C stops everything")
    mode = up.add_mutually_exclusive_group()
    mode.add_argument("--with-backend", action="store_true", help="run the services on this host (the native default)")
    mode.add_argument("--skip-backend", action="store_true", help="infrastructure only, no services")
    up.add_argument("--service", type=_names, metavar="A,B", help="only these services (and what they depend on)")
    up.add_argument("--profile", action="append", metavar="NAME",
                    help="like Compose's: what has no profile, plus the nodes of this profile (repeatable; default "
                         "$STAPEL_PROFILES=a,b, else everything runs), e.g. --profile monitoring")
    up.add_argument("--skip-migrations", action="store_true", help="do not run the services' migrations")
    up.add_argument("--skip-seeds", action="store_true", help="do not load seed data")
    up.add_argument("--json", action="store_true", help="print the run summary as JSON")
    up.add_argument("--watch", action="store_true", help="then stay in the foreground restarting the services with watch: "
                                                         "when their files change; Ctrl-C stops everything")
    parsers["watch"].add_argument("--service", type=_names, metavar="A,B", help="only these services (default: every one with watch:)")
    up.add_argument("--dashboard", action="store_true", help="with --attach (implied): also serve `stapel dashboard`'s page")
    up.add_argument("--dashboard-port", type=_port, default=0, metavar="PORT", help="the dashboard's port (default: a free one)")

    down = parsers["down"]
    down.add_argument("--volumes", action="store_true", help="also delete the contour's data (asks first)")
    down.add_argument("--yes", "-y", action="store_true", help="do not ask")

    for name in ("status", "check"):
        parsers[name].add_argument("--json", action="store_true", help="machine-readable output")

    logs = parsers["logs"]
    logs.add_argument("name", help="component or service name (or 'supervisor')")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=50, help="how many lines (default 50)")

    parsers["seed"].add_argument("--service", type=_names, metavar="A,B", help="only these services (default: all)")
    parsers["seed"].add_argument("--force", action="store_true", help="run every seed again, changed or not")
    parsers["seed"].add_argument("--json", action="store_true", help="print the run summary as JSON")

    db = parsers["db"].add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db.add_parser("init", help="create the database if missing, provision, migrate and load the seeds")
    db.add_parser("seed", help="load seeds (new or changed; --force: all)").add_argument("--force", action="store_true")
    for action, text in (("reset", "drop, then create, provision, migrate and seed again"),
                         ("drop", "drop each postgres component's databases (database: and databases:) and roles")):
        db.add_parser(action, help=text).add_argument("--yes", "-y", action="store_true", help="do not ask")

    parsers["start"].add_argument("--service", type=_names, metavar="A,B", required=True, help="names, comma-separated")
    for name in ("stop", "restart"):
        which = parsers[name].add_mutually_exclusive_group(required=True)
        which.add_argument("--service", type=_names, metavar="A,B", help="names, comma-separated")
        which.add_argument("--backend", action="store_true",
                           help="every service that runs (the project's own processes); the components keep running")

    dashboard = parsers["dashboard"]
    dashboard.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (default: a free one)")
    dashboard.add_argument("--open", action="store_true", help="open it in the default browser")

    parsers["config"].add_argument("--json", action="store_true", help="JSON instead of YAML")

    env = parsers["env"].add_subparsers(dest="env_command", metavar="ACTION", required=True)
    sync = env.add_parser("sync", help="create or update every .env from its example",
                          description="Create or update every .env from its example: asks for missing values (default), "
                                      "or --non-interactive fills them from the example and generates secrets.")
    sync.add_argument("--non-interactive", nargs="?", const="keep", choices=["keep", "overwrite"], metavar="=overwrite",
                      help="never ask: keep existing values (or =overwrite: rewrite every file from its example)")
    env.add_parser("check", help="missing or empty keys, empty secrets, keys that must agree across files")
    show = env.add_parser("print", help="the environment one service gets (secrets masked)")
    show.add_argument("--service", required=True, help="service name")
    show.add_argument("--format", choices=["dotenv", "json", "shell"], default="dotenv")
    show.add_argument("--reveal", action="store_true", help="show secret values")

    # migrate: arguments (owned by stapel.cli.migrate)
    migrate = parsers["migrate"]
    migrate.add_argument("action", nargs="?", default="up", choices=["up", "down", "redo", "status", "create"],
                         help="up (default): apply what is pending; down: roll back one (or --to); redo: down then up "
                              "the latest; status: applied and pending; create NAME: a new migration file")
    migrate.add_argument("name", nargs="?", help="create: the new migration's name")
    migrate.add_argument("--to", type=int, metavar="VERSION", help="up: apply up to this version; down: roll back to it (0: all)")
    migrate.add_argument("--dir", default="migrations", help="the migrations folder (default: ./migrations)")
    migrate.add_argument("--database-url", metavar="URL", help="the database (default: $DATABASE_URL)")
    migrate.add_argument("--service", metavar="NAME", help="that service's migrations.dir and the DATABASE_URL it gets (its role, schema)")
    migrate.add_argument("--json", action="store_true", help="status: machine-readable output")
    render = parsers["render"].add_subparsers(dest="target", metavar="TARGET", required=True)
    compose = render.add_parser("compose", help="a Compose file for the contour (compose.yaml + .env.compose)",
                                parents=[common(short_file=True, suppress=True)])
    compose.add_argument("-o", "--output", default="deploy/compose", help="folder to write (default: deploy/compose)")
    compose.add_argument("--tag", help="image tag of the project's services (default: the git commit)")
    compose.add_argument("--registry", default=os.environ.get("STAPEL_REGISTRY"), metavar="HOST[/PATH]",
                         help="prefix of the services' image names, e.g. ghcr.io/acme (default: $STAPEL_REGISTRY, else none)")
    dockerfile = render.add_parser("dockerfile", help="a starter Dockerfile (+ .dockerignore) for a Python service that has none",
                                   parents=[common(short_file=True, suppress=True)])
    dockerfile.add_argument("--service", required=True, metavar="NAME", help="the service (written into its cwd)")
    dockerfile.add_argument("--force", action="store_true", help="overwrite an existing Dockerfile / .dockerignore")
    k8s = render.add_parser("k8s", help="a kustomize base and one overlay per contour", parents=[common(short_file=True, suppress=True)])
    k8s.add_argument("-o", "--output", default="deploy/k8s", help="folder to write (default: deploy/k8s)")
    k8s.add_argument("--tag", help="image tag of the project's services (default: the git commit)")
    k8s.add_argument("--registry", default=os.environ.get("STAPEL_REGISTRY"), metavar="HOST[/PATH]",
                     help="where the cluster pulls the services' images from, e.g. ghcr.io/acme (default: $STAPEL_REGISTRY)")
    # provision: arguments (owned by stapel.cli.provision)
    provision = parsers["provision"]
    files = provision.add_mutually_exclusive_group()
    files.add_argument("--check", action="store_true", help="list the drift between declared and actual topology; exit 1 when there is any")
    files.add_argument("--export", metavar="FILE", help="write the broker's definitions JSON (GET /api/definitions) to FILE")
    files.add_argument("--import", dest="import_file", metavar="FILE", help="load a definitions JSON file into the broker")
    provision.add_argument("--component", metavar="NAME", help="only this rabbitmq component (default: all of them)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    blank = _blank_options(args)
    args.contour = args.contour or os.environ.get("STAPEL_CONTOUR") or None  # like COMPOSE_PROFILES: one shell, one contour
    from stapel.cli.errors import run_guarded

    def command() -> int:
        _refuse_blank(blank)
        return _dispatch(args)

    return run_guarded(command, args)


NAMED_OPTIONS = ("file", "contour", "service", "component", "database_url", "dir", "output")  # an empty one is a mistake


def _blank_options(args: argparse.Namespace) -> list[str]:
    """`--contour ""`, `--service ""` (or " , "): given but empty, which used to mean "the default" or "everything"."""
    found = []
    for name in NAMED_OPTIONS:
        value = getattr(args, name, None)
        if value is not None and (not value if isinstance(value, list) else not str(value).strip()):
            found.append("--" + name.replace("_", "-"))
    return found


def _refuse_blank(blank: list[str]) -> None:
    if blank:
        from stapel.errors import StapelError

        raise StapelError(f"{blank[0]}: the value is empty; give a name, or leave the option out for the default")


def _dispatch(args: argparse.Namespace) -> int:
    module, function, _ = COMMANDS[args.command]
    args.runtime = args.runtime or os.environ.get("STAPEL_RUNTIME") or "native"
    if args.runtime not in RUNTIMES:
        from stapel.errors import ConfigError

        raise ConfigError(f"$STAPEL_RUNTIME: unknown runtime '{args.runtime}'", hint="expected native or compose")
    if args.runtime != "native" and args.command in NATIVE_ONLY:
        from stapel.errors import StapelError

        raise StapelError(f"stapel {args.command}: native only (it runs a native up)", hint=f"drop --runtime {args.runtime}")
    if args.command not in RUNTIME_COMMANDS:
        args.runtime = "native"  # the others work on the model, or on what runs natively (watch, dashboard)
    return getattr(importlib.import_module(module), function)(args)


if __name__ == "__main__":
    sys.exit(main())
