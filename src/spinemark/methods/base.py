"""The method interface: every localization method turns a Volume into a Prediction.

A method module registers a factory under a name; the CLI, the Python API and the
benchmark find it by that name, so a new method plugs in without touching them.

Example:
    >>> from spinemark.methods import available_methods
    >>> "dualhead" in available_methods()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from spinemark.landmarks import Landmarks
from spinemark.volume import Volume


@dataclass
class Prediction:
    """What a method returns for one image.

    Attributes:
        landmarks: Labelled points in world mm, referred to the input grid.
        masks: Optional label map on the input grid (same shape as the input image).
        warnings: Messages for a person (also copied into the landmarks file).
        timings: Seconds spent per stage (``resample``, ``network``, ``decode``, ...; ``load`` on a first call
            that imports the framework and loads weights).
    """

    landmarks: Landmarks
    masks: Volume | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Method(Protocol):
    """A localization method. ``name`` and ``model_info`` describe it in output files."""

    name: str

    @property
    def model_info(self) -> dict: ...

    def predict(self, volume: Volume, known: Landmarks | None = None) -> Prediction:
        """Find and name the vertebrae of ``volume``; ``known``: vertebrae whose names a person knows (world mm of
        ``volume``), which the names must agree with (a method that cannot use them raises on them)."""


MethodFactory = Callable[..., Method]
_REGISTRY: dict[str, tuple[str, MethodFactory]] = {}


def register_method(name: str, summary: str):
    """Decorator registering a factory ``f(weights=None, **options) -> Method`` under ``name``."""

    def deco(factory: MethodFactory) -> MethodFactory:
        _REGISTRY[name] = (summary, factory)
        return factory

    return deco


def available_methods() -> dict[str, str]:
    """Registered method names and their one-line summaries."""
    _load_builtin()
    return {k: v[0] for k, v in sorted(_REGISTRY.items())}


def get_method(name: str = "dualhead", weights=None, **options) -> Method:
    """Build the method ``name``, with optional weights path and method options.

    Raises:
        KeyError: No method of that name is registered.
    """
    _load_builtin()
    if name not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name][1](weights=weights, **options)


def _load_builtin() -> None:
    # Importing a method module registers it; kept lazy so that torch loads only when needed.
    import importlib

    for module in BUILTIN_METHOD_MODULES:
        importlib.import_module(module)


BUILTIN_METHOD_MODULES = ("spinemark.methods.dualhead",)
