"""Secret-bearing files stapel writes into a project (.env files, .env.compose) and .local/ stay out of git.

When such a path lies in a git work tree and git would track it (`git check-ignore` says it is not ignored), an
anchored line for it is appended to the project's .gitignore (the one beside stapel.yaml; for a path outside the
project, the one in the path's own folder), and the caller says so. A file git already tracks cannot be ignored:
that is a warning naming `git rm --cached`, since its secrets would go into the next commit. No git on PATH, not a
work tree, or git failing: nothing to do (nothing can be tracked by that git either).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

HEADER = "# written by stapel: these hold secrets or local state, never commit them"
TIMEOUT = 10


def keep_out_of_git(files: list[Path], root: Path, folders: tuple[Path, ...] = ()) -> list[str]:
    """Ignore each file and folder (existing or not) that git would track; returns what to tell the user: one line
    per .gitignore changed, one warning per tracked file."""
    git = shutil.which("git")
    if git is None:
        return []
    notes: list[str] = []
    added: dict[Path, list[str]] = {}
    for path, slash in [*((f, "") for f in files), *((f, "/") for f in folders)]:
        top = _toplevel(git, path.parent)
        if top is None:
            continue
        rel = _relative(path, top)
        if not slash and _git(git, top, "ls-files", "--error-unmatch", "--", rel) == 0:
            notes.append(f"warning: {_shown(path, root)} is tracked by git, so its secrets go into your next commit "
                         f"(run: git rm --cached {_shown(path, root)})")
            continue
        if _git(git, top, "check-ignore", "-q", "--", rel + slash) != 1:  # 0: ignored already; else git cannot tell
            continue
        ignore_file = _ignore_file(path, root, top)
        entry = "/" + _relative(path, ignore_file.parent) + slash
        added.setdefault(ignore_file, []).append(entry)
    for ignore_file, entries in added.items():
        _append(ignore_file, entries)
        notes.append(f"added {', '.join(entries)} to {_shown(ignore_file, root)} (secrets and local state stay out of git)")
    return notes


def _toplevel(git: str, folder: Path) -> Path | None:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        done = subprocess.run([git, "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(done.stdout.strip()).resolve() if done.returncode == 0 and done.stdout.strip() else None


def _git(git: str, top: Path, *args: str) -> int | None:
    try:
        return subprocess.run([git, "-C", str(top), *args], capture_output=True, timeout=TIMEOUT, check=False).returncode
    except (OSError, subprocess.SubprocessError):
        return None


def _ignore_file(path: Path, root: Path, top: Path) -> Path:
    """The project's .gitignore when the path is in the project (and the project in the work tree), else its folder's."""
    real, project = _real(path), root.resolve()
    if real.is_relative_to(project) and project.is_relative_to(top):
        return project / ".gitignore"
    return real.parent / ".gitignore"


def _append(ignore_file: Path, entries: list[str]) -> None:
    text = ignore_file.read_text(encoding="utf-8") if ignore_file.exists() else ""
    lead = "" if not text or text.endswith("\n") else "\n"
    header = "" if HEADER in text else HEADER + "\n"
    with open(ignore_file, "a", encoding="utf-8") as out:
        out.write(lead + header + "".join(f"{entry}\n" for entry in entries))


def _real(path: Path) -> Path:
    """The path with its folders' symlinks resolved, not its own: git tracks a symlinked .env as the link."""
    return path.parent.resolve() / path.name


def _relative(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(_real(path), folder.resolve())).as_posix()


def _shown(path: Path, root: Path) -> str:
    return _relative(path, root) if _real(path).is_relative_to(root.resolve()) else str(path)
