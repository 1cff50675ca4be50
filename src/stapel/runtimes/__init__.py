"""Where a stack runs. Native (plain processes) is the default; fake is for fast tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stapel.runtimes.base import Runtime

NAMES = ("native", "fake")


def get(name: str, stack) -> "Runtime":  # noqa: ANN001
    if name == "native":
        from stapel.runtimes.native.runtime import NativeRuntime

        return NativeRuntime(stack)
    if name == "fake":
        from stapel.runtimes.fake import FakeRuntime

        return FakeRuntime(stack)
    from stapel.errors import StapelError

    raise StapelError(f"--runtime: unknown runtime '{name}'", hint=f"one of: {', '.join(NAMES)}")
