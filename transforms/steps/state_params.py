"""Bind a set of state specs built in a loop to a DoFn callback, as keyword arguments.

Beam's Python SDK finds a DoFn's state, and passes it in, only through parameter defaults
(``name=beam.DoFn.StateParam(spec)``) of ``process`` and the timer callbacks; a step that spreads
one value over many bags (dedup's index, ``transforms.text.index_slices``) would otherwise spell
out one parameter per bag. ``with_states`` adds those parameters to the callback's signature,
which Beam reads through ``inspect.signature``; the callback takes them as ``**states``, keyed by
spec name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import apache_beam as beam
from apache_beam.transforms.userstate import StateSpec


def with_states(specs: Sequence[StateSpec]) -> Callable:
    """Decorator: the callback receives each of ``specs``' states as the keyword argument named
    like the spec (it must end in ``**states``)."""

    def bind(method: Callable) -> Callable:
        signature = inspect.signature(method)
        params = list(signature.parameters.values())
        if not params or params[-1].kind is not inspect.Parameter.VAR_KEYWORD:
            raise TypeError(f"{method.__qualname__} must take **states to receive its states")
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
