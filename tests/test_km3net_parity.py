"""km3net_zt on real data equals an independent per-event reference of OrcaSong's FileBinner.

The reference below is written from OrcaSong 4.8.7's documented pipeline, event by event,
with its own detx parsing: MC-time correction, ``time + t0 - slew(tot)`` (km3pipe's
"variant 3" table), centring on the first triggered hit, then ``np.histogramdd`` per event.
OrcaSong casts to uint8 (wrapping at 256); hitprep keeps the true counts, so the reference
keeps them too. ``benchmarks/bench_km3net_images.py`` compares with OrcaSong itself.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from hitprep.config import load_job
from hitprep.runners import convert
from hitprep.stages.timeslew import SLEW_TABLE


def _reference_calibration(detx: Path) -> dict[tuple[int, int], tuple[float, float]]:
    """(dom_id, channel) -> (pos_z, t0), parsed line by line from a v2 detx."""
    lines = [ln.split() for ln in detx.read_text().splitlines() if ln.strip()]
    assert lines[0][1].lower() == "v2"
    table: dict[tuple[int, int], tuple[float, float]] = {}
    i = 4  # header, validity, UTM, number of DOMs
    while i < len(lines):
        dom_id, n_pmts = int(lines[i][0]), int(lines[i][3])
        for channel in range(n_pmts):
            pmt = lines[i + 1 + channel]
            table[(dom_id, channel)] = (float(pmt[3]), float(pmt[7]))
        i += 1 + n_pmts
    return table


def _reference_images(events: Path, detx: Path, edges: list[np.ndarray]) -> np.ndarray:
    calib = _reference_calibration(detx)
    images = []
    with h5py.File(events) as f:
        index = f["hits/_indices"][:]
        hits = {k: f[f"hits/{k}"][:] for k in ("dom_id", "channel_id", "time", "tot", "triggered")}
    for start, n in zip(index["index"], index["n_items"], strict=True):
        sl = slice(start, start + n)
        pos_z = np.empty(n)
        time = np.empty(n)
        for j, (dom, ch, t, tot) in enumerate(
            zip(
                hits["dom_id"][sl],
                hits["channel_id"][sl],
                hits["time"][sl],
                hits["tot"][sl],
                strict=True,
            )
        ):
            z, t0 = calib[(int(dom), int(ch))]
            pos_z[j] = z
            time[j] = (t + t0) - SLEW_TABLE[tot]
        time = time - np.min(time[hits["triggered"][sl] != 0])
        images.append(np.histogramdd([pos_z, time], bins=edges)[0])
    return np.asarray(images)


@pytest.mark.slow
def test_km3net_zt_equals_per_event_reference(
    km3net_h5: Path, km3net_detx: Path, tmp_path: Path
) -> None:
    job = load_job("km3net_zt")
    out = tmp_path / "zt.h5"
    summary = convert(job, [km3net_h5], out, detx=km3net_detx, step=64)
    assert summary.accounting.events_written == 500
    edges = [e for _, e in job.get("images")[0].axes]
    reference = _reference_images(km3net_h5, km3net_detx, edges)
    with h5py.File(out) as f:
        x = f["x"][:]
        info = f["event_info"][:]
    assert x.shape == (500, 18, 100)
    np.testing.assert_array_equal(x, reference)
    assert int(x.sum()) == 232_901  # OrcaSong 4.8.7 FileBinner's image sum on this file
    np.testing.assert_array_equal(info["entry"], np.arange(500))
