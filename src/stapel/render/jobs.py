"""The one-shots of a stack, as data: what runs once before the services start, as Compose one-shot services
(`service_completed_successfully`) and as Kubernetes Jobs. Each gets the env of its owner (the service, or the
postgres component), runs with argument lists and `$VAR` references only (never a secret on a command line), and
follows a chain: provisioning of the service's database, then its migrations, then its seeds.

  <pg>-provision   a PostgreSQL component (CONTAINER.sql) declaring databases or roles: psql_script's idempotent
                   provision.sql, run by psql from the component's own image as its superuser; role passwords as psql
                   variables from the env (the kind's role_var: <ROLE>_ROLE_PASSWORD), never in the script
  <kv>-provision   a component provisioned over HTTP (CONTAINER.http_provision: consul's kv, qdrant's collections):
                   a curl script (render/http_jobs.py); the services depending on the component wait for it
  <svc>-migrate    `migrations: {command}`: the service's own image runs the command with the service's env.
                   `migrations: {dir}`: goose itself, from GOOSE_IMAGE (there is no official goose image; this
                   community one holds goose's own release binary on Alpine). goose is the reference stapel's
                   runner follows (goose_db_version in the current schema, the advisory lock, NO TRANSACTION), so
                   running goose keeps both in step by construction; a psql re-implementation would be a second
                   copy to keep right. The image's entrypoint is bypassed: `goose -dir /migrations postgres
                   "$DATABASE_URL" up` with the service's DATABASE_URL (its role, its schema).
  <svc>-seed       SQL seeds: psql from the database's image, each file recorded with its SHA-256 in
                   stapel_seed_history exactly like `stapel seed` (re-run only when changed; same table, so native
                   and container runs agree). Python `module:function` seeds: `<svc>-seed-py` in the service's image,
                   called as `stapel seed` calls them; there they run on every start (no record: the image need not
                   have a PostgreSQL client), so such a seed must be idempotent itself. Consecutive entries of one
                   kind share a one-shot; mixed lists get `-seed-1`, `-seed-2`, ... in their declared order.

The files the seeds and migrations read are listed at render time (`reads`): Compose bind-mounts the folder,
Kubernetes gets them in a ConfigMap (so render again after adding one).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stapel.components.container import container_of, image_of, kind_of
from stapel.errors import ConfigError
from stapel.render import http_jobs
from stapel.render.psql_script import password_vars, script

GOOSE_IMAGE = "ghcr.io/kukymbr/goose-docker:3.23.0"  # goose v3.23.0
STAPEL_DIR = "/stapel"  # where a one-shot's generated files are mounted
SEED_PSQL = """\\set ON_ERROR_STOP on
CREATE TABLE IF NOT EXISTS stapel_seed_history (name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
SELECT NOT EXISTS (SELECT FROM stapel_seed_history WHERE name = :'name' AND checksum = :'checksum') AS todo \\gset
\\if :todo
BEGIN;
\\i :file
INSERT INTO stapel_seed_history (name, checksum) VALUES (:'name', :'checksum')
  ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, applied_at = now();
COMMIT;
\\echo seeded :name
\\else
\\echo :name unchanged
\\endif
"""


@dataclass(frozen=True)
class OneShot:
    name: str
    step: str  # provision | migrate | seed
    owner: str  # whose env it runs with: a service, or the postgres component (provision)
    image: str | None  # None: the owner service's own image
    command: list[str]  # replaces the image's entrypoint
    needs: str | None  # the component that must be healthy first: the database, or the consul/qdrant provisioned
    after: str | None = None  # the one-shot that must have completed first
    files: dict[str, str] = field(default_factory=dict)  # generated, mounted read-only at STAPEL_DIR
    mount: Path | None = None  # a project folder it reads, at workdir
    workdir: str | None = None
    reads: tuple[str, ...] = ()  # the files under `mount` it reads (relative paths)

    def path_of(self, rel: str) -> Path:
        """One of `reads` on disk (a one-shot that reads files always mounts their folder)."""
        if self.mount is None:
            raise ValueError(f"one-shot {self.name} reads {rel} but mounts no folder")
        return self.mount / rel


def _facet(node: Any) -> Any:  # components.base.Container | None
    return None if node.is_service else getattr(kind_of(node), "CONTAINER", None)


def is_sql(node: Any) -> bool:
    """A database whose image has psql: services' migrations and SQL seeds run against it."""
    facet = _facet(node)
    return bool(facet and facet.sql)


def provisioned_over_http(node: Any) -> bool:
    facet = _facet(node)
    return bool(facet and facet.http_provision)


def one_shots(stack: Any, host_of: Callable[[str], str] = str) -> list[OneShot]:
    from stapel.provision.steps import declared

    found: list[OneShot] = []
    provisions = {}
    for node in stack.components():
        if is_sql(node) and declared(stack, node):
            provisions[node.name] = _provision(node, host_of)
            found.append(provisions[node.name])
        elif provisioned_over_http(node) and declared(stack, node):
            found.append(OneShot(**http_jobs.one_shot_args(node, host_of)))
    for node in stack.services():
        db = database_of(stack, node)
        previous = provisions[db].name if db in provisions else None
        for shot in _service_shots(stack, node, db):
            shot = OneShot(**{**shot.__dict__, "after": previous})
            found.append(shot)
            previous = shot.name
    _check_files(stack, found)
    return found


def provisions_needed(shots: list[OneShot], stack: Any, node: Any) -> list[str]:
    """The HTTP provisioning one-shots (consul, qdrant) of the components a service depends on (it starts after them)."""
    return [s.name for s in shots if s.step == "provision" and s.owner in node.depends_on and provisioned_over_http(stack.nodes[s.owner])]


def awaited(shots: list[OneShot], stack: Any, node: Any) -> list[str]:
    """The one-shots a service starts after: its own chain, and every provisioning, migration and seed of each
    database it uses (depends_on or uses), whoever owns them: a worker sharing the api's database waits for the
    api's migrations, as natively every service starts after the migrate and seed steps. A one-shot another awaited
    one already runs after is left out (Compose's depends_on is transitive through the chain), and so is another
    service's one-shot that a profile may switch off while this service runs."""
    databases = set(databases_of(stack, node))
    wanted = [s for s in shots if s.owner == node.name or (s.step == "provision" and s.owner in databases)
              or (s.step in ("migrate", "seed") and s.needs in databases and _runs_whenever(stack.nodes[s.owner], node))]
    before = {s.after for s in wanted if s.after}
    return [s.name for s in wanted if s.name not in before]


def _runs_whenever(other: Any, node: Any) -> bool:
    """Whether `other` is active in every profile selection that activates `node` (Compose's profile rule)."""
    theirs, mine = set(other.config.profiles or ()), set(node.config.profiles or ())
    return not theirs or bool(mine) and mine <= theirs


def database_of(stack: Any, node: Any) -> str | None:
    """The postgres component whose DATABASE_URL the service gets (the first in depends_on, then uses)."""
    return next(iter(databases_of(stack, node)), None)


def databases_of(stack: Any, node: Any) -> list[str]:
    """The databases (is_sql) a service depends on or uses, in that order."""
    return [n for n in dict.fromkeys([*node.depends_on, *node.config.uses]) if is_sql(stack.nodes[n])]


def _provision(node: Any, host_of: Callable[[str], str]) -> OneShot:
    config, role_var = node.config, kind_of(node).role_var
    variables = password_vars(config)
    port = container_of(node).ports["main"]
    command = " ".join([f'PGPASSWORD="$POSTGRES_PASSWORD" exec psql -X -h {shlex.quote(host_of(node.name))} -p {port}',
                        '-U "$POSTGRES_USER" -d postgres', *(f'-v {variables[role]}="${role_var(role)}"' for role in config.roles),
                        f"-f {STAPEL_DIR}/provision.sql"])
    return OneShot(f"{node.name}-provision", "provision", node.name, image_of(node),
                   ["sh", "-c", command], node.name, files={"provision.sql": script(config)})


def _service_shots(stack: Any, node: Any, db: str | None) -> list[OneShot]:
    from stapel.components.service import cwd
    from stapel.migrate.seeds import collect

    shots = []
    where, url = f"services.{node.name}", f"${node.config.env_prefix}DATABASE_URL"
    folder = cwd(node, stack.root)
    migrations = node.config.migrations
    if migrations and migrations.command:
        shots.append(OneShot(f"{node.name}-migrate", "migrate", node.name, None, list(migrations.command), db))
    elif migrations:
        _need(db, f"{where}.migrations")
        from stapel.migrate.runner import discover

        files = tuple(m.path.name for m in discover(folder / migrations.dir))
        shots.append(OneShot(f"{node.name}-migrate", "migrate", node.name, GOOSE_IMAGE,
                             ["sh", "-c", f'exec goose -dir /migrations postgres "{url}" up'], db,
                             mount=folder / migrations.dir, workdir="/migrations", reads=files))
    groups: list[list[Any]] = []
    for seed in collect(node.config.seeds, folder, where) if node.config.seeds else []:
        if groups and groups[-1][0].kind == seed.kind:
            groups[-1].append(seed)
        else:
            groups.append([seed])
    for i, group in enumerate(groups, start=1):
        suffix = "-seed" if len(groups) == 1 else f"-seed-{i}"
        if group[0].kind == "sql":
            database = _need(db, f"{where}.seeds")
            shots.append(_sql_seeds(stack, node, database, f"{node.name}{suffix}", [s.name for s in group], folder, url))
        else:
            shots.append(OneShot(f"{node.name}{suffix}{'-py' if len(groups) == 1 else ''}", "seed", node.name, None,
                                 ["python3", "-c", _python_seeds([s.name for s in group])], db))
    return shots


def _sql_seeds(stack: Any, node: Any, db: str, name: str, files: list[str], folder: Path, url: str) -> OneShot:
    pg = stack.nodes[db]
    runs = "; ".join(f'sha256sum {shlex.quote(f)} | {{ read sum rest; psql -X -q -v name={shlex.quote(f)} '
                     f'-v file={shlex.quote(f)} -v checksum="$sum" -f {STAPEL_DIR}/seed.psql "{url}"; }}' for f in files)
    return OneShot(name, "seed", node.name, image_of(pg), ["sh", "-c", f"set -e; {runs}"], db,
                   files={"seed.psql": SEED_PSQL}, mount=folder, workdir="/seeds", reads=tuple(files))


def _python_seeds(entries: list[str]) -> str:
    """What `stapel seed` runs per entry (migrate/seeds.py), one after the other in one interpreter."""
    calls = [f"getattr(importlib.import_module({m!r}), {f!r})()" for m, _, f in (e.partition(":") for e in entries)]
    return "; ".join(["import importlib, sys", "sys.path.insert(0, '.')", *calls])


def _need(db: str | None, where: str) -> str:
    """The database the service's migrations or seeds run against; ConfigError without one."""
    if db is None:
        raise ConfigError(f"{where}: the service neither depends on nor uses a postgres component, so it has no DATABASE_URL",
                          hint="add the database to its depends_on (or uses)")
    return db


def _check_files(stack: Any, shots: list[OneShot]) -> None:
    """A one-shot's files go into a reviewable file or a ConfigMap: a secret value in one is refused."""
    mask = stack.masker()
    for shot in shots:
        texts = dict(shot.files)
        texts.update({rel: shot.path_of(rel).read_text(encoding="utf-8") for rel in shot.reads})
        for rel, text in texts.items():
            if mask(text) != text:
                where = shot.path_of(rel) if rel not in shot.files else f"{shot.name}/{rel}"
                owner = stack.nodes[shot.owner]
                http = facet.http_provision if (facet := _facet(owner)) else None
                hint = http and http.leak_hint or "read it from the environment in the seed or migration instead"
                raise ConfigError(f"{where}: holds a secret value, which would land in a rendered file or ConfigMap", hint=hint)
