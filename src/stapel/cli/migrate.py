"""stapel migrate [up|down|redo|status|create NAME]: goose-compatible SQL migrations (see stapel.migrate.runner)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from stapel.cli.common import print_json, say
from stapel.errors import StapelError

if TYPE_CHECKING:
    from stapel.migrate.runner import Row

DONE = {"up": "applied", "down": "rolled back", "redo": "redid"}
NOTHING = {"up": "nothing to migrate: every migration is applied", "down": "nothing to roll back: no migration is applied",
           "redo": "nothing to redo: no migration is applied"}


def cmd_migrate(args: argparse.Namespace) -> int:
    """Everything it says and every error goes through a masker that knows the password of the URL given (psycopg
    quotes a badly percent-encoded password in its error; a DSN's password= is not a URL)."""
    from stapel.env.masking import Masker, secrets_in

    mask = Masker(secrets_in(" ".join(filter(None, [args.database_url, os.environ.get("DATABASE_URL")]))))
    try:
        return _migrate(args, lambda text: say(mask(text)))
    except StapelError as exc:
        exc.message, exc.problems = mask(exc.message), [mask(p) for p in exc.problems]
        exc.hint = mask(exc.hint) if exc.hint else exc.hint
        raise


def _migrate(args: argparse.Namespace, say) -> int:
    _check(args)
    from stapel.migrate import runner

    folder, url = _for_service(args) if args.service else (Path(args.dir), None)
    if args.action == "create":
        say(f"created {runner.create(folder, args.name)}")
        return 0
    url = url or _database_url(args)
    if args.action == "status":
        current, rows = runner.status(url, folder)
        if args.json:
            print_json({"version": current, "migrations": [_row_json(row) for row in rows]})
        else:
            _print_status(current, rows)
        return 0
    started = time.monotonic()
    say(f"» migrate {args.action}: {folder} -> {runner.describe(url)}")
    done = runner.run(url, folder, args.action, say, args.to)
    elapsed = time.monotonic() - started
    if not done:
        say(f"✓ {NOTHING[args.action]} ({elapsed:.2f} s)")
    elif args.action == "up":
        say(f"✓ {DONE['up']} {len(done)} migration(s) in {elapsed:.2f} s; now at version {done[-1].version}")
    else:
        say(f"✓ {DONE[args.action]} {', '.join(m.name for m in done)} in {elapsed:.2f} s")
    return 0


def _check(args: argparse.Namespace) -> None:
    if args.action == "create" and not args.name:
        raise StapelError("migrate create: give the new migration's NAME (stapel migrate create add_users)")
    if args.action != "create" and args.name:
        raise StapelError(f"migrate {args.action}: unexpected argument '{args.name}' (only create takes a NAME)")
    if args.to is not None and args.action not in ("up", "down"):
        raise StapelError(f"migrate {args.action}: --to applies to up and down only")
    if args.json and args.action != "status":
        raise StapelError(f"migrate {args.action}: --json applies to status only")


def _for_service(args: argparse.Namespace) -> tuple[Path, str]:
    """A service's migrations.dir and the DATABASE_URL it gets (its role, its schema), from stapel.yaml."""
    from stapel.cli.common import open_stack
    from stapel.engine import ports
    from stapel.migrate.steps import service_context
    from stapel.model.schema import did_you_mean

    stack = open_stack(args)
    ports.apply_remembered(stack)
    node = stack.nodes.get(args.service)
    if node is None or not node.is_service:
        services = sorted(n.name for n in stack.services())
        raise StapelError(f"migrate --service: unknown service '{args.service}'{did_you_mean(args.service, services)}")
    migrations = node.config.migrations
    if migrations is None or migrations.dir is None:
        raise StapelError(f"migrate --service {node.name}: services.{node.name}.migrations.dir is not set",
                          hint="stapel migrate runs goose-format folders; a migrations.command runs in stapel up")
    folder, env, url_key = service_context(stack, node)
    if args.database_url is None and not env.get(url_key):
        raise StapelError(f"migrate --service {node.name}: the service has no {url_key}", hint="let it depend on or use a postgres component")
    return folder / migrations.dir, args.database_url or env[url_key]


def _database_url(args: argparse.Namespace) -> str:
    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url:
        raise StapelError(f"migrate {args.action}: no database: --database-url is not given and DATABASE_URL is not set",
                          hint="e.g. --database-url postgresql://user:password@127.0.0.1:5432/app")
    return url


def _row_json(row: Row) -> dict:
    name = row.file.partition("_")[2].removesuffix(".sql") if row.file else None
    stamp = row.applied_at.isoformat() if row.applied_at else None
    return {"version": row.version, "name": name, "file": row.file, "applied": row.applied, "applied_at": stamp}


def _print_status(current: int, rows: list[Row]) -> None:
    table = [("VERSION", "FILE", "APPLIED AT")]
    for row in rows:
        when = row.applied_at.strftime("%Y-%m-%d %H:%M:%S") if row.applied_at else "applied"
        table.append((str(row.version), row.file or "(no file has this version)", when if row.applied else "pending"))
    widths = [max(len(line[i]) for line in table) for i in range(2)]
    for version, file, when in table:
        say(f"{version:<{widths[0]}}  {file:<{widths[1]}}  {when}")
    say(f"current version: {current}")
