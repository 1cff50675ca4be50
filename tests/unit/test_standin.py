"""Stand-ins for data a server's unprivileged user cannot reach (a project under a 0700 folder), and the groups
such a server runs with. Real users and folders; only root runs servers as another user."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from stapel.errors import PreflightError
from stapel.runtimes.native import standin
from stapel.runtimes.native.runtime import NativeContext

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not any(p.pw_name == "postgres" for p in pwd.getpwall()),
                                reason="needs root and a postgres user")


class _Ctx(NativeContext):
    def __init__(self) -> None:  # server_dir needs no stack
        pass


@pytest.fixture
def tmp_path():
    """A folder everyone may enter (pytest's own are under a 0700 /tmp/pytest-of-root)."""
    folder = Path(tempfile.mkdtemp(prefix="stapel-standin-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def shared(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "shared"
    monkeypatch.setenv("STAPEL_SHARED_DIR", str(root))
    return root


def private_project(tmp_path: Path) -> Path:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    (closed / "shop/.local/data/dev").mkdir(parents=True)
    return closed / "shop/.local/data/dev/db"


def test_a_reachable_folder_is_used_as_it_is(tmp_path: Path, shared: Path) -> None:
    path = tmp_path / "open/.local/data/dev/db"
    path.parent.mkdir(parents=True)
    assert _Ctx().server_dir(path, "postgres", create=True) == path
    assert not path.is_symlink() and not shared.exists()
    assert _Ctx().server_dir(path, None) == path  # not root: no other user


def test_an_unreachable_folder_gets_a_stand_in_the_user_owns(tmp_path: Path, shared: Path) -> None:
    path = private_project(tmp_path)
    planned = _Ctx().server_dir(path, "postgres")  # what native() puts on argv: no side effect
    assert planned.parent == shared and not shared.exists() and not path.exists()
    made = _Ctx().server_dir(path, "postgres", create=True)
    assert made == planned and Path(os.readlink(path)) == made
    user = pwd.getpwnam("postgres")
    assert (made.stat().st_uid, made.stat().st_gid, stat.S_IMODE(made.stat().st_mode)) == (user.pw_uid, user.pw_gid, 0o700)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o711
    assert Path(f"{made}.link").read_text() == f"{path}\n"
    assert _Ctx().server_dir(path, "postgres", create=True) == made  # the second up follows the link
    done = subprocess.run(["test", "-w", str(made)], **NativeContext.user_kwargs("postgres"), check=False)
    assert done.returncode == 0  # the server's user can write into it


def test_the_stand_in_follows_a_moved_project(tmp_path: Path, shared: Path) -> None:
    path = private_project(tmp_path)
    made = _Ctx().server_dir(path, "postgres", create=True)
    moved = tmp_path / "closed/moved"
    (tmp_path / "closed/shop").rename(moved)
    assert _Ctx().server_dir(moved / ".local/data/dev/db", "postgres", create=True) == made


def test_down_volumes_removes_stand_ins_and_never_follows_other_links(tmp_path: Path, shared: Path) -> None:
    path = private_project(tmp_path)
    made = _Ctx().server_dir(path, "postgres", create=True)
    (made / "PG_VERSION").write_text("18\n")
    elsewhere = tmp_path / "precious"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("x")
    (path.parent / "mine").symlink_to(elsewhere)
    assert standin.remove_linked(path.parents[1]) == [made]
    assert not made.exists() and not Path(f"{made}.link").exists()
    assert (elsewhere / "keep").exists()


def test_existing_data_out_of_reach_is_one_line_not_moved(tmp_path: Path, shared: Path) -> None:
    path = private_project(tmp_path)
    path.mkdir()
    (path / "PG_VERSION").write_text("15\n")
    with pytest.raises(PreflightError) as info:
        _Ctx().server_dir(path, "postgres", create=True)
    assert info.value.lines()[0].startswith(f"{path}: already holds data that the server's user cannot reach")
    assert (path / "PG_VERSION").exists() and not path.is_symlink()


def test_an_empty_folder_out_of_reach_is_replaced_by_the_link(tmp_path: Path, shared: Path) -> None:
    path = private_project(tmp_path)
    path.mkdir()
    made = _Ctx().server_dir(path, "postgres", create=True)
    assert path.is_symlink() and made.is_dir()


def test_a_shared_folder_others_may_write_is_refused(tmp_path: Path, shared: Path) -> None:
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(PreflightError) as info:
        _Ctx().server_dir(private_project(tmp_path), "postgres", create=True)
    assert "must be a directory owned by you and writable only by you" in info.value.lines()[0]


def test_servers_run_with_their_users_groups_not_roots() -> None:
    """A server left in group root cannot enter a root:root 0701 folder (group bits apply, not other's): that is
    why `chmod o+x` did not help before; initdb now runs like the server, with the user's own groups."""
    done = subprocess.run(["id", "-G"], capture_output=True, text=True, check=True, **NativeContext.user_kwargs("postgres"))
    groups = {int(g) for g in done.stdout.split()}
    assert groups == {pwd.getpwnam("postgres").pw_gid}  # like the supervisor spawns the server: no root group
