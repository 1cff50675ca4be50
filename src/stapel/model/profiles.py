"""Which nodes a contour runs: `contours.<c>.profiles` (seed 004: services/dev/* are not part of prod).

One selection for every consumer: open_stack() leaves the other nodes out of the contour's Stack, so `up`,
`render compose` and each `render k8s` overlay agree (the kustomize base is rendered whole and each overlay deletes
what its contour leaves out). A node without profiles is always in; one with profiles is in when one of them is
listed. Without `profiles:` the contour runs everything declared.
"""

from __future__ import annotations

from typing import Any

from stapel.model.yamlfile import Located


def left_out(model: Any, settings: Any) -> list[str]:
    """The components and services the contour's profiles leave out, in declaration order."""
    wanted = None if settings is None else settings.profiles
    if wanted is None:
        return []
    nodes = {**model.components, **model.services}
    return [name for name, config in nodes.items() if config.profiles and not set(config.profiles) & set(wanted)]


def problems(located: Located, model: Any, contour: str, settings: Any) -> list[str]:
    """A listed profile no node has (a typo runs nothing of it silently), and a node the contour runs that depends on
    or uses one it leaves out."""
    from stapel.model.schema import did_you_mean

    if settings.profiles is None:
        return []
    nodes = {**model.components, **model.services}
    known = sorted({p for config in nodes.values() for p in config.profiles or ()})
    where = located.where(("contours", contour, "profiles"))
    found = [f"{where}: contours.{contour}.profiles: no component or service has profile '{name}'"
             f"{did_you_mean(name, known) if known else ''}" for name in settings.profiles if name not in known]
    out = set(left_out(model, settings))
    for name, config in nodes.items():
        needs = [*config.depends_on, *(getattr(config, "uses", None) or {})]
        for other in dict.fromkeys(n for n in needs if n in out and name not in out):
            section = "services" if name in model.services else "components"
            found.append(f"{where}: contours.{contour}.profiles: leaves out {other} (profiles {', '.join(nodes[other].profiles)}), "
                         f"which {section}.{name} needs; add one of its profiles or leave {name} out too")
    return found
