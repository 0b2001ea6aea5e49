"""Registries of plug-in modules: a package whose modules each define one entry.

The pipeline backends and the upload setups are such packages. Every module of the
package (but those named with a leading underscore, which hold shared helpers) is
imported and its entry, the module attribute ``attribute``, is listed under its name.
"""

from __future__ import annotations

import importlib
import pkgutil

from .errors import InputError


def discover(package: str, path, attribute: str) -> dict:
    found = {}
    for module in pkgutil.iter_modules(path):
        if not module.name.startswith("_"):
            entry = getattr(importlib.import_module(f"{package}.{module.name}"), attribute)
            found[entry.name] = entry
    return dict(sorted(found.items()))


def lookup(registry: dict, name: str, kind: str):
    try:
        return registry[name]
    except KeyError:
        raise InputError(f"{kind} {name!r}: not one of {', '.join(registry)}") from None
