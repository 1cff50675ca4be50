"""The pytest plugin (entry point `pytest11: stapel`): a real stack as a fixture.

    stapel_stack   session: the project's stack (or `stapel_services`) up in its own slot, down at the end
    stapel_db      per test: a clean database (a clone of the migrated and seeded one), dropped after the test

Settings (ini, or the command line's --stapel-*): stapel_file, stapel_services, stapel_contour, stapel_slot,
stapel_keep, stapel_db_node, stapel_db_durable, stapel_db_tmpfs (tests only: the database's data in RAM).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from stapel.testing.stack import SLOT_BASE, StackError, StapelStack, worker_slot

SETTINGS: dict[str, tuple[str, Literal["string", "bool"]]] = {
    # name: (help, type for addini)
    "stapel_file": ("stapel.yaml to bring up (default: the nearest one from the rootdir up)", "string"),
    "stapel_services": ("only these nodes (comma-separated) and what they depend on (default: the whole stack)", "string"),
    "stapel_contour": ("the contour (default: the file's `contour:`, else dev)", "string"),
    "stapel_slot": (f"first slot number (default {SLOT_BASE}); pytest-xdist worker gwN takes slot + N", "string"),
    "stapel_keep": ("leave the stack and its data after the session (the next session's up is then a no-op)", "bool"),
    "stapel_db_node": ("the PostgreSQL component stapel_db clones (default: the first one)", "string"),
    "stapel_db_durable": ("keep fsync on in the test slot's PostgreSQL (default: off, as pytest-postgresql's -F)", "bool"),
    "stapel_db_tmpfs": ("TESTS ONLY, not durable: the test slot's database component keeps its data in RAM "
                        "(/dev/shm/stapel-tests-only-*, deleted at the session's end), fsync off", "bool"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stapel", "a real stack from stapel.yaml (stapel.testing)")
    for name, (text, kind) in SETTINGS.items():
        parser.addini(name, text, type=kind, default=False if kind == "bool" else None)
        flag = "--" + name.replace("_", "-")
        if kind == "bool":
            group.addoption(flag, action="store_true", default=None, dest=name, help=text)
        else:
            group.addoption(flag, default=None, dest=name, metavar="VALUE", help=text)


def _setting(config: pytest.Config, name: str):
    given = config.getoption(name)
    return given if given is not None else config.getini(name)


def _stack_file(config: pytest.Config) -> Path:
    from stapel.errors import StapelError
    from stapel.paths import find_stack_file, readable_stack_file

    given = _setting(config, "stapel_file")
    try:
        if given:
            path = Path(given)
            return readable_stack_file(path if path.is_absolute() else Path(config.rootpath) / path).resolve()
        return find_stack_file(None, cwd=Path(config.rootpath))
    except StapelError as exc:
        raise StackError(f"stapel_file: {exc} (set stapel_file = PATH in the pytest ini file, or pass --stapel-file)") from None


def make_stack(config: pytest.Config) -> StapelStack:
    slot_text = _setting(config, "stapel_slot")
    if slot_text and not str(slot_text).isdigit():
        raise StackError(f"stapel_slot: expected a number from 0 to 99, got '{slot_text}'")
    slot = worker_slot(int(slot_text) if slot_text else SLOT_BASE)
    if slot > 99:
        raise StackError(f"stapel_slot: slot {slot} (base + xdist worker) is past 99; use a lower stapel_slot or fewer workers")
    services = [n.strip() for n in (_setting(config, "stapel_services") or "").split(",") if n.strip()] or None
    tmpfs = bool(_setting(config, "stapel_db_tmpfs"))
    if tmpfs and _setting(config, "stapel_db_durable"):
        raise StackError("stapel_db_tmpfs and stapel_db_durable: a database in RAM is not durable; set one of them")
    if tmpfs and _setting(config, "stapel_keep"):
        raise StackError("stapel_db_tmpfs and stapel_keep: a database in RAM is deleted at the session's end; set one of them")
    in_ram = (_setting(config, "stapel_db_node") or True) if tmpfs else False
    return StapelStack(_stack_file(config), slot, _setting(config, "stapel_contour") or None, services,
                       keep=bool(_setting(config, "stapel_keep")), tmpfs_db=in_ram)


@pytest.fixture(scope="session")
def stapel_stack(pytestconfig: pytest.Config) -> Iterator[StapelStack]:
    """The project's stack, up in this session's own slot; taken down at the end (also after a failure or Ctrl-C)."""
    problem = None
    try:
        stack = make_stack(pytestconfig)
        stack.up()
    except StackError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(problem, pytrace=False)
    try:
        yield stack
    finally:
        if not stack.keep:
            stack.down()


@pytest.fixture(scope="session")
def stapel_databases(stapel_stack: StapelStack, pytestconfig: pytest.Config):
    """The template of stapel_db (session): the stack's database as `up` left it (migrated, seeded)."""
    from stapel.testing.databases import TemplateDatabases

    problem = None
    try:
        _, url = stapel_stack.database_url(_setting(pytestconfig, "stapel_db_node") or None)
    except StackError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(problem, pytrace=False)
    databases = TemplateDatabases(url, durable=bool(_setting(pytestconfig, "stapel_db_durable")))
    databases.start()
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def stapel_db(stapel_databases):
    """A clean database for this test: its DSN (a str; `.name`, `.connect()` for a psycopg connection)."""
    database = stapel_databases.take()
    try:
        yield database
    finally:
        stapel_databases.give_back(database)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A StackError (stapel_stack.env / .endpoint asked for a node stapel.yaml lacks) is one line, not a traceback."""
    report = yield
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(StackError):
        report.longrepr = str(call.excinfo.value)
    return report
