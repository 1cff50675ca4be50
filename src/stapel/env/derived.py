"""Derived env (issue 13 item 7): a service's `env:` values may name what stapel gives that service.

    services:
      web:
        env_prefix: WEB_
        uses: {api: {}, db: {role: web}}
        env:
          API_BASE: ${WEB_API_URL}/api                 # the service api's URL as web sees it (moved port, Compose host)
          REACT_APP_API_URL: ${WEB_API_PUBLIC_URL}/api # the api as the developer's browser reaches it
          DATABASE_URL: ${WEB_DB_ADMIN_URL}             # seed 000: the admin URL for migrations, next to WEB_DATABASE_URL

A `${NAME}` in a service's `env:` value is looked up, first match wins:
  1. the service's own other `env:` keys (a key naming itself gets the value beneath it, as PATH=$PATH:x does);
  2. what stapel gives the service: its exported names (under its env_prefix), HOST, PORT, <VOLUME>_DIR, its env files;
  3. names it may only refer to, never exported by themselves: <prefix><NODE>_ADMIN_URL of every component it sees
     (PostgreSQL's superuser on the service's database and schema, RabbitMQ's own user on its vhost, Redis's default
     user on the service's db), and <prefix><NODE>_PUBLIC_URL of every node it sees with an HTTP address: that node
     as the developer's machine reaches it (a browser's API address, seed 002), which <NODE>_URL is only natively:
     natively its URL (moved port included), in Compose http://127.0.0.1:<published host port>, in Kubernetes the
     address of `kubectl port-forward svc/<node> <port>` (http://127.0.0.1:<port>); a node without a published HTTP
     port makes naming it a config error;
  4. the environment, the contour's env files and the project's .env (what every other `${VAR}` in stapel.yaml reads).
So stapel's values win over a same-named .env key: in Compose and Kubernetes they are the re-hosted ones. Defaults and
checks (`${A:-x}`, `${A:?why}`) and `$$` work as elsewhere. A name found nowhere, or keys that refer to each other in a
circle, is one config error naming the path. A derived value is masked like any other (Stack.secrets reads them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stapel.model.interpolate import substitute


class GivenEnv(dict):
    """What stapel gives a service (Stack.service_env), knowing how to expand the service's own env on top of it:
    `own(below)` -> its `env:` with every template resolved against `below` (this env plus HOST, PORT, env files)."""

    def __init__(self, values: Mapping[str, str], own: Callable[[Mapping[str, str]], dict[str, str]] | None = None):
        super().__init__(values)
        self.own = own or (lambda below: {})


class DerivedError(ValueError):
    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def resolve(own: Mapping[str, str], templates: Mapping[str, str], below: Mapping[str, str], refs: Mapping[str, str],
            outer: Mapping[str, str], unavailable: Mapping[str, str] | None = None) -> dict[str, str]:
    """`own` with each key that has a template expanded (see the module's docstring for the order). DerivedError
    names the key at fault: a name found nowhere, a malformed variable, a circle, a name of `unavailable` (a refer-only
    name this service cannot have, e.g. <P><NODE>_PUBLIC_URL of a node without a port: name -> why)."""
    done: dict[str, str] = {}

    def value_of(key: str, chain: tuple[str, ...]) -> str:
        if key in done:
            return done[key]
        if key not in templates:
            done[key] = own[key]
            return done[key]
        if key in chain:
            circle = " -> ".join([*chain[chain.index(key):], key])
            raise DerivedError(chain[0], f"the env keys refer to each other in a circle ({circle}); break it")
        lookup = _Lookup(key, chain + (key,), own, below, refs, outer, value_of, unavailable or {})
        try:
            done[key] = substitute(templates[key], lookup)
        except DerivedError:
            raise
        except ValueError as exc:
            raise DerivedError(key, str(exc)) from None
        return done[key]

    return {key: value_of(key, ()) for key in own}


class _Lookup(Mapping[str, str]):
    """The names one template sees, in order; `get` is all substitute() calls."""

    def __init__(self, key: str, chain: tuple[str, ...], own: Mapping[str, str], below: Mapping[str, str], refs: Mapping[str, str],
                 outer: Mapping[str, str], value_of: Callable[[str, tuple[str, ...]], str], unavailable: Mapping[str, str]):
        self.key, self.chain, self.own, self.below, self.refs, self.outer, self.value_of = key, chain, own, below, refs, outer, value_of
        self.unavailable = unavailable

    def get(self, name: str, default: Any = None) -> Any:
        if name in self.own and name != self.key:
            return self.value_of(name, self.chain)
        for source in (self.below, self.refs):
            if name in source:
                return source[name]
        if name in self.unavailable:
            raise DerivedError(self.key, self.unavailable[name])
        return self.outer.get(name, default)

    def __getitem__(self, name: str) -> str:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __iter__(self):
        return iter(dict.fromkeys([*self.own, *self.below, *self.refs, *self.outer]))

    def __len__(self) -> int:
        return len(list(iter(self)))
