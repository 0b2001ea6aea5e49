"""The registry of the ways to update the edge's model: one module each, behind one ``Method``.

A method module defines ``METHOD``, named like the module with its underscores as hyphens
(``in_place.py`` is "in-place"). Everything else (the cells a configuration asks for, the edge
a cell starts, how an update is followed, what its records carry, the comparison between methods
and its claim, the figures' markers) asks this registry instead of naming a method, so adding one
touches its own module and the schema's enum only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ...registry import Registry


@dataclass(frozen=True)
class Method:
    name: str
    needs_pod: bool        # the edge must be a pod (a setup on a cluster) to update this way
    updater: bool          # the edge runs the updater beside the server, polling the store
    recorded: Callable     # recorded(spec) -> the ServingParameters fields this method sets
    follow: Callable       # follow(edge, version, timeout_s) -> the edge's account of the update, or None
    # The method this one is compared with (claim S3 and the comparisons table), and the claim
    # the comparison judges; None for a method compared with none.
    baseline: str | None = None
    claim: str | None = None


METHODS: Registry = Registry(__name__, __path__, "METHOD", "serving method", hyphens=True)


def method(name: str) -> Method:
    return METHODS.entry(name)
