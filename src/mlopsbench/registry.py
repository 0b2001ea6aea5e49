"""Registries of plug-in modules: a package whose modules each define one entry.

The pipeline backends and the upload setups are such packages. Each module (but those
named with a leading underscore, which hold shared helpers) is an entry named like the
module; it is imported when first asked for, so a command that runs one backend loads
that backend only, while listing the registry loads them all.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from .errors import InputError


class Registry(Mapping):
    """``hyphens``: an entry's name spells its module's underscores as hyphens (entry a-b is module a_b)."""

    def __init__(self, package: str, path, attribute: str, kind: str, hyphens: bool = False):
        self._package, self._attribute, self.kind = package, attribute, kind
        modules = [m.name for m in pkgutil.iter_modules(path) if not m.name.startswith("_")]
        self._modules = {(m.replace("_", "-") if hyphens else m): m for m in modules}
        self._names = sorted(self._modules)
        self._loaded: dict = {}

    def __getitem__(self, name: str):
        if name not in self._names:
            raise KeyError(name)
        if name not in self._loaded:
            entry = getattr(importlib.import_module(f"{self._package}.{self._modules[name]}"), self._attribute)
            if entry.name != name:
                raise RuntimeError(f"{self._package}.{name} registers {entry.name!r}: name it like its module")
            self._loaded[name] = entry
        return self._loaded[name]

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def entry(self, name: str):
        """The entry ``name``, or an error that lists the names there are."""
        try:
            return self[name]
        except KeyError:
            raise InputError(f"{self.kind} {name!r}: not one of {', '.join(self)}") from None
