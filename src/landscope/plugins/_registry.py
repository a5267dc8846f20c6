"""Registries of the training engine's plugins: online analyses, update transforms, loss penalties.

The engine (:mod:`landscope.training`) and the config schema (:mod:`landscope.config`) look names
up here; analysis packages register their plugins here when they are imported.  Built-in and
third-party packages are found through the ``landscope.plugins`` entry-point group: each entry
names a module whose import registers its plugins (landscope's own are declared in its
``pyproject.toml``), so neither the engine nor the schema imports an analysis package.  Loading
happens once, on the first look-up of a name that is not registered yet.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = [
    "ENTRY_POINT_GROUP",
    "LOSS_PENALTIES",
    "ONLINE_ANALYSES",
    "UPDATE_TRANSFORMS",
    "Plugin",
    "Registry",
    "load_plugins",
]

#: The entry-point group of plugin modules (``[project.entry-points."landscope.plugins"]``).
ENTRY_POINT_GROUP = "landscope.plugins"

T = TypeVar("T")

_loaded = False


def load_plugins() -> list[str]:
    """Import every module of the ``landscope.plugins`` entry-point group once (each registers
    its plugins); returns the names of the modules imported by this call.

    A plugin module that fails to import is an error naming the entry point, not a silently
    missing plugin.
    """
    global _loaded
    if _loaded:
        return []
    _loaded = True
    loaded = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # re-raised with the entry point's name
            raise ImportError(
                f"landscope plugin {ep.name!r} ({ep.value}) failed to import: {exc}"
            ) from exc
        loaded.append(ep.value)
    return loaded


@dataclass(frozen=True)
class Plugin(Generic[T]):
    """A registered factory: ``factory(**options)`` builds the plugin object."""

    name: str
    factory: Callable[..., T]
    description: str

    def check_options(self, options: Mapping[str, Any], fixed: tuple[str, ...] = ()) -> None:
        """Raise ValueError when ``options`` do not fit the factory's signature (unknown or
        missing arguments), so a config is rejected when it is validated, not mid-run."""
        try:
            signature = inspect.signature(self.factory)
        except (TypeError, ValueError):  # builtins without a signature: checked when built
            return
        try:
            signature.bind(**{k: None for k in fixed}, **options)
        except TypeError as exc:
            raise ValueError(f"bad options for {self.name!r}: {exc}") from None


class Registry(Generic[T]):
    """Name -> factory for one kind of plugin (``kind`` names it in messages and configs).

    >>> reg = Registry("example plugin")
    >>> @reg.register("double", description="2 x")
    ... def double(scale: float = 2.0):
    ...     return lambda x: scale * x
    >>> reg.build("double", scale=3.0)(2.0)
    6.0
    >>> reg.build("triple")
    Traceback (most recent call last):
    ...
    ValueError: unknown example plugin 'triple'; registered: double
    """

    def __init__(self, kind: str, fixed: tuple[str, ...] = ()):
        self.kind = kind
        self.fixed = fixed  # arguments the engine passes itself (e.g. every, name)
        self._plugins: dict[str, Plugin[T]] = {}

    def register(
        self, name: str, factory: Callable[..., T] | None = None, *, description: str = ""
    ):
        """Register ``factory`` under ``name`` (usable as a decorator).  Re-registering the same
        factory is a no-op; another factory under a taken name is an error."""

        def add(f: Callable[..., T]) -> Callable[..., T]:
            old = self._plugins.get(name)
            if old is not None and old.factory is not f:
                raise ValueError(f"{self.kind} {name!r} is already registered ({old.factory!r})")
            doc = description or (inspect.getdoc(f) or "").split("\n", 1)[0]
            self._plugins[name] = Plugin(name, f, doc)
            return f

        return add if factory is None else add(factory)

    def get(self, name: str) -> Plugin[T]:
        if name not in self._plugins:
            load_plugins()
        try:
            return self._plugins[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}"
            ) from None

    def build(self, plugin_name: str, /, **options: Any) -> T:
        """``factory(**options)`` of ``plugin_name`` (options may include a ``name``); bad
        options are a ValueError naming the plugin."""
        plugin = self.get(plugin_name)
        plugin.check_options(options)
        return plugin.factory(**options)

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._plugins)

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._plugins

    def __iter__(self) -> Iterator[Plugin[T]]:
        return iter([self._plugins[n] for n in self.names()])

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._plugins)} registered)"


#: Measurements during training: ``factory(every=..., name=..., **options) -> OnlineAnalysis``.
ONLINE_ANALYSES: Registry = Registry("online analysis", fixed=("every", "name"))
#: Maps of each update: ``factory(**options) -> UpdateTransform``.
UPDATE_TRANSFORMS: Registry = Registry("update transform")
#: Terms added to the training loss: ``factory(**options) -> LossPenalty``.
LOSS_PENALTIES: Registry = Registry("loss penalty")
