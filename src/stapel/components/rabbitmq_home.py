"""RabbitMQ's private minimal home: the node runs from a folder holding only what it loads, so Erlang's code path is
short (shared/research/boot.md: a stock 3.10 boot spends ~1.8 s searching 93 directories for ~1,100 modules).

The home is `sbin/rabbitmq-defaults` and `escript` (symlinks to the installed ones) and `plugins/` (symlinks to the
dependency closure of `rabbit` and the enabled plugins, read from their .app files). RABBITMQ_SCRIPTS_DIR points at
its sbin: the installed `rabbitmq-env` of 3.9-3.12 derives RABBITMQ_HOME (and so ERL_LIBS and the escripts) from it.
Anything else (another version or layout, plugins packed as .ez archives, a plugin not installed, the user's own
RABBITMQ_SCRIPTS_DIR / RABBITMQ_PLUGINS_DIR / RABBITMQ_SERVER_CODE_PATH) keeps the stock layout, and `plan` says why.
`code` comes first on the code path (RABBITMQ_SERVER_CODE_PATH): a symlink to rabbitmq_code.py's cached folder of
every module and .app once that is built, an empty folder until then (the node's env never changes with it).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED = ((3, 9), (3, 12))  # inclusive: the scripts whose rabbitmq-env derives RABBITMQ_HOME from RABBITMQ_SCRIPTS_DIR
ROOTS = ("rabbit", "rabbitmq_prelaunch", "rabbit_common")  # what the server itself boots
HOME_LINE = 'RABBITMQ_HOME="$(rmq_realpath "${RABBITMQ_SCRIPTS_DIR}/..")"'


@dataclass
class Plan:
    stock: Path | None = None  # the installed rabbitmq_server-X.Y.Z
    plugins: dict[str, Path] = field(default_factory=dict)  # app -> its installed folder, the closure only
    why_not: str | None = None  # set: run the stock layout


def plan(server: str, enabled: list[str], env: dict[str, str]) -> Plan:
    """What the private home holds for this server and these plugins (reads only)."""
    own = [name for name in ("RABBITMQ_SCRIPTS_DIR", "RABBITMQ_PLUGINS_DIR", "RABBITMQ_SERVER_CODE_PATH") if env.get(name)]
    if own:
        return Plan(why_not=f"{own[0]} is set in its env")
    stock = Path(os.path.realpath(server)).parent.parent
    found = re.fullmatch(r"rabbitmq_server-(\d+)\.(\d+)\.\d+.*", stock.name)
    version = (int(found.group(1)), int(found.group(2))) if found else None
    if version is None or not SUPPORTED[0] <= version <= SUPPORTED[1]:
        return Plan(why_not=f"{stock.name}: not a RabbitMQ 3.9-3.12 layout")
    try:
        if HOME_LINE not in (stock / "sbin" / "rabbitmq-env").read_text():
            return Plan(why_not=f"{stock}/sbin/rabbitmq-env does not derive RABBITMQ_HOME from RABBITMQ_SCRIPTS_DIR")
        if not (stock / "sbin" / "rabbitmq-defaults").is_file() or not (stock / "escript").is_dir():
            return Plan(why_not=f"{stock}: no sbin/rabbitmq-defaults or escript/")
        installed = _installed(stock / "plugins")
    except OSError as exc:
        return Plan(why_not=f"{stock}: {exc.strerror}")
    if isinstance(installed, str):
        return Plan(why_not=installed)
    missing = [name for name in [*ROOTS, *enabled] if name not in installed]
    if missing:
        return Plan(why_not=f"not installed in {stock / 'plugins'}: {', '.join(missing)}")
    return Plan(stock=stock, plugins=_closure([*ROOTS, *enabled], installed))


def _installed(folder: Path) -> dict[str, tuple[Path, list[str]]] | str:
    """app -> (its folder, the apps its .app file names); a string says why this layout is not used."""
    apps = {}
    for item in folder.iterdir():
        if item.suffix == ".ez":
            return f"{folder}: plugins packed as .ez archives"
        name = item.name.rsplit("-", 1)[0]
        spec = item / "ebin" / f"{name}.app"
        if item.is_dir() and spec.is_file():
            apps[name] = (item, _needs(spec.read_text(errors="replace")))
    return apps


def _needs(app_file: str) -> list[str]:
    needs = []
    for key in ("applications", "included_applications"):
        found = re.search(rf"\{{\s*{key}\s*,\s*\[([^\]]*)\]", app_file)
        if found:
            needs += re.findall(r"[a-z][a-zA-Z0-9_]*", found.group(1))
    return needs


def _closure(roots: list[str], installed: dict[str, tuple[Path, list[str]]]) -> dict[str, Path]:
    chosen: dict[str, Path] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in chosen or name not in installed:  # not installed here: an OTP application (kernel, ssl, ...)
            continue
        chosen[name] = installed[name][0]
        todo += installed[name][1]
    return chosen


def env_of(home: Path) -> dict[str, str]:
    return {"RABBITMQ_SCRIPTS_DIR": str(home / "sbin"), "RABBITMQ_PLUGINS_DIR": str(home / "plugins"),
            "RABBITMQ_SERVER_CODE_PATH": str(home / "code")}


def build(home: Path, chosen: Plan, code: Path | None = None) -> None:
    """The home as `chosen` says: left alone when it already is (a running node loads from it), else built aside
    and swapped in. `code`: a ready code folder (rabbitmq_code.py's) for `code` to link to; None: an empty folder."""
    assert chosen.stock is not None
    links = {Path("sbin/rabbitmq-defaults"): chosen.stock / "sbin" / "rabbitmq-defaults",
             Path("escript"): chosen.stock / "escript",
             **{Path("plugins") / folder.name: folder for folder in chosen.plugins.values()},
             **({Path("code"): code} if code else {})}
    if _links(home) == links and (code or (home / "code").is_dir()):
        return
    fresh = home.with_name(f".{home.name}.{uuid.uuid4().hex[:8]}")
    try:
        (fresh / "sbin").mkdir(parents=True)
        (fresh / "plugins").mkdir()
        if not code:
            (fresh / "code").mkdir()
        for where, target in links.items():
            (fresh / where).symlink_to(target, target_is_directory=target.is_dir())
        if home.exists():
            shutil.rmtree(home)
        fresh.rename(home)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


def _links(home: Path) -> dict[Path, Path]:
    """The symlinks a built home holds, relative to it, with their targets."""
    found: dict[Path, Path] = {}
    for current, dirs, files in os.walk(home):
        for name in [*dirs, *files]:
            path = Path(current) / name
            if path.is_symlink():
                found[path.relative_to(home)] = Path(os.readlink(path))
    return found
