"""Every runtime meets the one contract (runtimes/base.py): the commands and the up pipeline ask nothing else."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from stapel import runtimes
from stapel.paths import Paths
from stapel.runtimes.base import ProcessRuntime, Runtime
from stapel.runtimes.compose_project import ComposeRuntime
from stapel.runtimes.fake import FakeRuntime
from stapel.runtimes.native.contour import NativeContour
from stapel.runtimes.native.runtime import NativeRuntime


def _members(protocol: type) -> dict[str, object]:
    names = {n for n in vars(protocol) if not n.startswith("_")} | set(getattr(protocol, "__annotations__", {}))
    return {n: getattr(protocol, n, None) for n in names}


def _arity(function: object) -> list[str]:
    return [p.name for p in inspect.signature(function).parameters.values()][1:]  # without self


@pytest.mark.parametrize("cls", [NativeContour, NativeRuntime, ComposeRuntime, FakeRuntime])
def test_every_runtime_has_every_member_of_the_contract(cls: type) -> None:
    for name, member in _members(Runtime).items():
        assert hasattr(cls, name), f"{cls.__name__} lacks {name}"
        if callable(member):
            assert _arity(getattr(cls, name)) == _arity(member), f"{cls.__name__}.{name}: other parameters than the contract's"


@pytest.mark.parametrize("cls", [NativeRuntime, FakeRuntime])
def test_the_process_runtimes_have_what_the_pipeline_drives(cls: type) -> None:
    for name in _members(ProcessRuntime):
        assert hasattr(cls, name), f"{cls.__name__} lacks {name}"


def test_the_runtimes_are_reached_by_name(tmp_path: Path) -> None:
    paths = Paths(tmp_path, "dev")
    assert runtimes.at(paths).name == "native" and runtimes.at(paths, "compose").name == "compose"
    assert not runtimes.at(paths).active() and not runtimes.at(paths, "compose").active()
    assert runtimes.at(paths).states() == {} and runtimes.at(paths, "compose").states() == {}
    assert runtimes.head_start(paths, "compose") is None  # no helper of its own to start early
