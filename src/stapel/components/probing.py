"""A recorded probe (pid files, stack.json: a ProbeSpec as JSON) run again: a kind's own probe type is named after
the kind and registered by its module, so that module is imported first."""

from __future__ import annotations

from stapel.probes import TYPES, ProbeSpec, Result
from stapel.probes import run as run_spec


def run(spec: ProbeSpec) -> Result:
    from stapel.probes import generic  # noqa: F401  (registers tcp, http, exec)

    if spec.type not in TYPES:
        from stapel.components import kind_module

        try:
            kind_module(spec.type)
        except KeyError:
            pass  # run_spec says which types exist
    return run_spec(spec)
