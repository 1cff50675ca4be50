"""What one `up` runs. Without --service: every component, narrowed by --profile like Compose's (nodes without a
profile, those of the named profiles, and what they depend on), and the services unless --skip-backend.
With --service a,b: those services and what they need (depends_on and uses:, transitively), nothing else; plus the
nodes of an explicitly named --profile, like `docker compose --profile p up a`."""

from __future__ import annotations

from stapel.engine.options import UpOptions
from stapel.engine.stack import Stack
from stapel.errors import PreflightError
from stapel.model import graph


def in_profiles(stack: Stack, options: UpOptions) -> set[str] | None:
    """The nodes --profile selects, or None without --profile (everything declared runs)."""
    wanted = options.profiles
    if wanted is None:
        return None
    known = sorted({p for n in stack.nodes.values() for p in n.config.profiles})
    unknown = [p for p in wanted if p not in known]
    if unknown:
        from stapel.model.schema import did_you_mean

        raise PreflightError(f"--profile: no component or service of {stack.file.name} has profile '{unknown[0]}'"
                             f"{did_you_mean(unknown[0], known) if known else ' (it declares no profiles)'}")
    chosen = [n.name for n in stack.nodes.values() if not n.config.profiles or set(n.config.profiles) & set(wanted)]
    return graph.closure(stack.edges(), chosen)


def needs(stack: Stack) -> dict[str, list[str]]:
    """What each node needs running: its depends_on and, for a service, the nodes it `uses:` (their details are in
    its environment) without waiting for them."""
    return {name: [*node.depends_on, *getattr(node.config, "uses", {})] for name, node in stack.nodes.items()}


def components(stack: Stack, options: UpOptions, services: list[str]) -> list[str]:
    if options.services is not None:  # the names may be components too
        needed, named = graph.closure(needs(stack), options.services), _named_profiles(stack, options)
        return [n.name for n in stack.components() if n.name in needed or n.name in named]
    chosen, needed = in_profiles(stack, options), graph.closure(needs(stack), services)
    return [n.name for n in stack.components() if chosen is None or n.name in chosen or n.name in needed]


def _named_profiles(stack: Stack, options: UpOptions) -> set[str]:
    """The nodes carrying one of the --profile names (checked like in_profiles), and what they need."""
    if options.profiles is None:
        return set()
    in_profiles(stack, options)  # an unknown profile is an error here too
    wanted = set(options.profiles)
    return graph.closure(needs(stack), [n.name for n in stack.components() if set(n.config.profiles) & wanted])


def services(stack: Stack, options: UpOptions) -> list[str]:
    if options.skip_backend:
        return []
    names = [n.name for n in stack.services()]
    if options.services is None:
        chosen = in_profiles(stack, options)
        return [name for name in names if chosen is None or name in chosen]
    unknown = [s for s in options.services if s not in stack.nodes]
    if unknown:
        from stapel.model.schema import did_you_mean

        raise PreflightError(f"--service: unknown name '{unknown[0]}'{did_you_mean(unknown[0], sorted(stack.nodes))}")
    return sorted(n for n in graph.closure(needs(stack), options.services) if stack.nodes[n].is_service)
