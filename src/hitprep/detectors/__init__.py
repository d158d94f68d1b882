"""Detector geometry: KM3NeT ``.detx`` files."""

from __future__ import annotations

from hitprep.detectors.detx import SUPPORTED_VERSIONS, Detector, read_detx

__all__ = ["SUPPORTED_VERSIONS", "Detector", "read_detx"]
