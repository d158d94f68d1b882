"""The ``[[ldmx_images]]`` job section: one LDMX ECal image per table.

The images are made by :mod:`hitprep.representations.ldmx` (see its docstring for the
formats)::

    [[ldmx_images]]
    name = "image"
    format = "xyz"           # or "z_split" (one channel per z slice)
    dim = 40
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import PrivateAttr, model_validator

from hitprep.config import check_memory
from hitprep.errors import ConfigError
from hitprep.jobmodel import JobSection, Section, validate_list
from hitprep.representations.ldmx import LdmxImageSpec

__all__ = ["JOB_SECTIONS", "LdmxImageSection", "check_chunks", "check_section"]

Number = int | float


class LdmxImageSection(Section):
    """``[[ldmx_images]]``: one LDMX ECal image per event (see the module docstring)."""

    name: str = "image"
    """Output dataset name."""
    format: str
    """"xyz": x-y images with one channel per coordinate; "z_split": one channel per z slice."""
    dim: int = 40
    """Pixels per side."""
    x_range: tuple[Number, Number] = (-200.0, 200.0)
    """[low, high] of x (mm)."""
    y_range: tuple[Number, Number] = (-200.0, 200.0)
    """[low, high] of y (mm)."""
    z_range: tuple[Number, Number] = (240.0, 600.0)
    """[low, high] of z (mm)."""
    depth: int = 10
    """z_split: number of z slices."""
    spacing: str = "linear"
    """z slices: "linear" or "log" (finer near log_origin)."""
    log_origin: float = 0.0
    """spacing = "log": z of the origin (below z_range)."""
    weights: str = "E"
    """Field summed per pixel ("": count hits)."""
    dtype: str = ""
    """Image dtype ("": float32)."""
    collection: str = "hits"
    """The hit collection imaged."""

    _spec: LdmxImageSpec | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _checked(self) -> LdmxImageSection:
        self._spec = LdmxImageSpec(
            name=self.name,
            format=self.format,
            dim=self.dim,
            x_range=_pair("x_range", self.x_range),
            y_range=_pair("y_range", self.y_range),
            z_range=_pair("z_range", self.z_range),
            depth=self.depth,
            spacing=self.spacing,
            log_origin=self.log_origin,
            weights=self.weights or None,
            dtype=self.dtype,
            collection=self.collection,
        )
        return self

    @property
    def spec(self) -> LdmxImageSpec:
        """The image to build (checked when the section was validated)."""
        assert self._spec is not None  # set by the validator
        return self._spec


def _pair(key: str, value: tuple[Number, Number]) -> tuple[float, float]:
    if not float(value[0]) < float(value[1]):
        msg = f"{key}: expected [low, high] with low < high, got {list(value)!r}"
        raise ConfigError(msg)
    return float(value[0]), float(value[1])


def check_section(where: str, value: Any) -> tuple[LdmxImageSection, ...]:
    """Validate ``[[ldmx_images]]`` tables (at least one; names that differ)."""
    if not isinstance(value, list | tuple) or not value:
        msg = f"{where}: expected one or more [[ldmx_images]] tables"
        raise ConfigError(msg)
    tables = validate_list(LdmxImageSection, where, value)
    names = [t.name for t in tables]
    if len(set(names)) != len(names):
        msg = f"{where}: image names must differ, got {names}"
        raise ConfigError(msg)
    return tables


def check_chunks(where: str, tables: tuple[LdmxImageSection, ...], step: int) -> None:
    """A chunk of ``step`` events of each image fits in memory (else the size it would take)."""
    for i, table in enumerate(tables):
        dim = table.dim
        channels = 3 if table.format == "xyz" else table.depth
        itemsize = np.dtype(table.dtype or "float32").itemsize
        what = f"a chunk of {step} events of {dim} x {dim} x {channels} images"
        check_memory(
            f"{where} #{i + 1}.dim", float(dim) * dim * channels * itemsize * step, what=what
        )


JOB_SECTIONS = (
    JobSection(
        "ldmx_images",
        LdmxImageSection,
        70,
        kind="representation",
        check=check_section,
        build="hitprep.representations.ldmx:build_representations",
        fits=check_chunks,
        array=True,
    ),
)
