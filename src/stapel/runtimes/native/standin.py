"""A reachable stand-in for a server's data folder when the project lives where its unprivileged user cannot go.

Servers that refuse root (PostgreSQL) run as an unprivileged user. A project under a 0700 folder (every
`mktemp -d`, many home folders) is out of that user's reach, and stapel does not change the permissions of
folders it does not own. So such a server keeps its data in a stand-in under stapel's own shared folder,
`/var/lib/stapel/<digest>-<name>/` (root-owned 0711: the user can enter it, not list it; the stand-in itself is
the user's, 0700), and the project's `.local/data/<contour>/<name>` is a symlink to it: `du`, `ls -l` and the
run log show where the data is, and `down --volumes` deletes the stand-in with the link. A record
`<digest>-<name>.link` beside it names the link it belongs to (for a person tidying up after a project folder
was deleted without `down --volumes`).

Why not the alternatives: /var/tmp is aged out by systemd-tmpfiles (30 days on Debian), $XDG_RUNTIME_DIR is a
tmpfs emptied at logout (both would lose a database), an ACL or chmod on the user's folder changes what is not
stapel's, and CAP_DAC_READ_SEARCH would let the server (and any program its superuser runs) read every file.
Only root needs this (only root runs a server as another user); `STAPEL_SHARED_DIR` moves the shared folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

from stapel.errors import PreflightError

DEFAULT_SHARED = "/var/lib/stapel"


def shared_root() -> Path:
    return Path(os.environ.get("STAPEL_SHARED_DIR") or DEFAULT_SHARED)


def standin_for(path: Path) -> Path:
    """The stand-in of `path`: a link already made to one, else the one named after `path`'s absolute location."""
    found = linked(path)
    if found is not None:
        return found
    digest = hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:16]
    return shared_root() / f"{digest}-{path.name}"


def linked(path: Path) -> Path | None:
    """The stand-in `path` links to, or None (not a link, or one to elsewhere)."""
    if not path.is_symlink():
        return None
    target = Path(os.readlink(path))
    return target if ours(target) else None


def ours(path: Path) -> bool:
    """Inside stapel's shared folder (never follows a link elsewhere: down --volumes deletes what this accepts)."""
    root = shared_root()
    return path.is_absolute() and path.parent == root and ".." not in path.parts


def make(path: Path, uid: int, gid: int) -> Path:
    """Create the stand-in of `path` (owned by uid:gid, 0700) and link `path` to it; returns the stand-in."""
    target = standin_for(path)
    if linked(path) is None:
        if path.is_symlink() or (path.exists() and not _empty_dir(path)):
            raise PreflightError(
                f"{path}: already holds data that the server's user cannot reach",
                hint=f"move it to {target} (owned by that user) and put a symlink in its place, or delete it")
        if path.exists():
            path.rmdir()
        _ensure_root()
        if target.exists() or target.is_symlink():  # left by an earlier folder at this very path, whose link is gone
            shutil.rmtree(target, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target, target_is_directory=True)
        _record(target, path)
    target.mkdir(mode=0o700, exist_ok=True)
    os.chown(target, uid, gid)
    os.chmod(target, 0o700)
    return target


def _empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _ensure_root() -> None:
    root = shared_root()
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    st = root.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PreflightError(f"{root}: stapel's shared folder must be a directory owned by you and writable only by you",
                             hint="remove it (stapel recreates it), or set STAPEL_SHARED_DIR to another folder")
    os.chmod(root, 0o711)


def _record(target: Path, link: Path) -> None:
    target.with_name(target.name + ".link").write_text(f"{link.absolute()}\n")


def remove_linked(folder: Path) -> list[Path]:
    """Delete the stand-ins that links under `folder` point to (before `folder` itself is deleted)."""
    removed = []
    for current, dirs, files in os.walk(folder, followlinks=False):
        for name in [*dirs, *files]:
            target = linked(Path(current) / name)
            if target is not None:
                shutil.rmtree(target, ignore_errors=True)
                target.with_name(target.name + ".link").unlink(missing_ok=True)
                removed.append(target)
    return removed
