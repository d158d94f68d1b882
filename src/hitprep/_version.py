"""hitprep's version, one place: the package metadata (pyproject) reads it from here."""

from __future__ import annotations

__version__ = "0.1.0"
