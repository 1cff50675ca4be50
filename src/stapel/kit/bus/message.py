"""Messages are versioned pydantic models: the type and version travel in the headers (`x-stapel-type`,
`x-stapel-version`; the AMQP `type` property too), the body is the model as JSON.

    class OrderPlaced(Message, type="OrderPlaced", version=2):   # type defaults to the class name, version to 1
        order_id: int
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["Message", "describe", "model_for"]

TYPE, VERSION = "x-stapel-type", "x-stapel-version"
_models: dict[str, dict[int, type[Message]]] = {}  # type -> version -> the model (the last one defined)


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)
    TYPE: ClassVar[str] = "Message"
    VERSION: ClassVar[int] = 1

    def __init_subclass__(cls, type: str | None = None, version: int | None = None, **kwargs: Any) -> None:  # noqa: A002
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, type: str | None = None, version: int | None = None, **kwargs: Any) -> None:  # noqa: A002
        super().__pydantic_init_subclass__(**kwargs)
        cls.TYPE = type or cls.__name__
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise ValueError(f"bus: {cls.__name__}: version is a positive integer, got {version!r}")
            cls.VERSION = version
        _models.setdefault(cls.TYPE, {})[cls.VERSION] = cls


def model_for(types: frozenset[str]) -> type[Message] | None:
    """The newest model of the one message type a channel carries, if it is defined in this process."""
    known = [t for t in types if t in _models]
    if len(known) != 1:
        return None
    versions = _models[known[0]]
    return versions[max(versions)]


def describe(error: ValidationError) -> str:
    """A validation failure in words, without the input values (they may be personal data)."""
    parts = [f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in error.errors(include_url=False,
                                                                                            include_input=False)]
    return "; ".join(parts)[:500]
