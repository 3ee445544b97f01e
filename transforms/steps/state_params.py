"""Bind a set of state specs built in a loop to a DoFn callback, as keyword arguments.

Beam's Python SDK finds a DoFn's state, and passes it in, only through parameter defaults
(``name=beam.DoFn.StateParam(spec)``) of ``process`` and the timer callbacks; a step that spreads
one value over many bags (dedup's index, ``transforms.text.index_slices``) would otherwise spell
out one parameter per bag. ``with_states`` adds those parameters to the callback's signature,
which Beam reads through ``inspect.signature``; the callback takes them as ``**states``, keyed by
spec name, or as ``*states``, in the specs' order (Beam passes ``process`` its arguments by
position, timer callbacks theirs by name).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import apache_beam as beam
from apache_beam.transforms.userstate import StateSpec


def with_states(specs: Sequence[StateSpec]) -> Callable:
    """Decorator: the callback receives each of ``specs``' states as the keyword argument named
    like the spec (it must end in ``**states``) or by position (``*states``)."""

    def bind(method: Callable) -> Callable:
        signature = inspect.signature(method)
        params = list(signature.parameters.values())
        variadic = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        if not params or params[-1].kind not in variadic:
            raise TypeError(f"{method.__qualname__} must take **states or *states")
        added = [
            inspect.Parameter(
                spec.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=beam.DoFn.StateParam(spec),
            )
            for spec in specs
        ]
        method.__signature__ = signature.replace(parameters=params[:-1] + added)
        return method

    return bind
