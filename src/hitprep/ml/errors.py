"""Errors of :mod:`hitprep.ml`; importable without PyTorch, so the CLI can say what is missing."""

from __future__ import annotations

import importlib.util

from hitprep.errors import HitprepError

__all__ = ["MissingDependencyError", "SchemaMismatchError", "require_torch"]


class MissingDependencyError(HitprepError, ImportError):
    """An optional dependency (the ``ml`` extra) is not installed."""


class SchemaMismatchError(HitprepError, ValueError):
    """A model's input schema does not match the data it is given.

    The message names the file and every difference (input names, shapes,
    features, extra inputs), so the user can see which model fits which data.
    """

    def __init__(self, file: str, differences: list[str]) -> None:
        self.file = file
        self.differences = differences
        detail = "; ".join(differences)
        super().__init__(f"{file}: data do not match the model's input schema: {detail}")


def require_torch(command: str) -> None:
    """Raise :class:`MissingDependencyError` naming the extra when PyTorch is absent."""
    missing = [m for m in ("torch", "sklearn") if importlib.util.find_spec(m) is None]
    if missing:
        names = " and ".join("scikit-learn" if m == "sklearn" else "PyTorch" for m in missing)
        msg = f"hitprep {command} needs {names}: pip install 'hitprep[ml]'"
        raise MissingDependencyError(msg)
