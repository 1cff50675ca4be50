"""Where a stack runs: native (plain processes, the default), compose (the rendered project driven through the
engine's compose CLI) and fake (nothing runs; for engine tests). Every one implements the contract in base.py;
the functions below are the only way in from outside this package (import-linter keeps native's internals here).
"""

from __future__ import annotations

from typing import Any

NAMES = ("native", "compose")


def at(paths: Any, name: str = "native") -> Any:
    """The contour's runtime from its paths alone (status, check, logs, stop, down: stapel.yaml is not loaded)."""
    if name == "compose":
        from stapel.runtimes.compose_project import ComposeRuntime

        return ComposeRuntime(paths)
    from stapel.runtimes.native.contour import NativeContour

    return NativeContour(paths)


def for_stack(stack: Any, name: str = "native", head_start: Any = None) -> Any:
    """The runtime an `up` drives for a loaded stack; `head_start`: a native runtime begun before the model was
    loaded (see head_start()), reused when it is for the same contour."""
    if name == "compose":
        from stapel.runtimes.compose_project import ComposeRuntime

        return ComposeRuntime(stack.paths)
    from stapel.runtimes.native.runtime import NativeRuntime

    return NativeRuntime(stack, head_start.client if head_start is not None else None)


def head_start(paths: Any, name: str = "native") -> Any:
    """A native runtime whose supervisor starts now, overlapping the validation of stapel.yaml (release() it when
    the up never happens); None for a runtime without a helper of its own."""
    if name != "native":
        return None
    from stapel.runtimes.native.contour import NativeContour

    contour = NativeContour(paths)
    contour.client.spawn_quietly()
    return contour
