"""The demo's simulation: the default scrape stays small enough to read and still has every family's
metrics; ``full`` spreads the same metrics over many more series."""

from __future__ import annotations

import random
import re

import otelsvc
from otelsvc.instruments import FAMILIES
from otelsvc.instruments._simulate import Simulation

_SUFFIX = re.compile(r"_(bucket|sum|count)(?=\{|$)")
_LE = re.compile(r',?le="[^"]*"')


def _scrape(full: bool, steps: int) -> str:
    guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False, runtime_metrics=False)
    try:
        sim = Simulation(guard, rng=random.Random(42), full=full)
        for _ in range(steps):
            sim.step()
        return guard.render_metrics().decode()
    finally:
        guard.shutdown()


def _series(text: str) -> set[str]:
    """Distinct label sets (a histogram's buckets, sum and count are one series)."""
    keys = (line.split(" ")[0] for line in text.splitlines() if line and not line.startswith("#"))
    return {_LE.sub("", _SUFFIX.sub("", key)).replace("{}", "") for key in keys}


def _names_with_samples(text: str) -> set[str]:
    return {re.split(r"[{ ]", key)[0] for key in _series(text)}


def test_default_scrape_is_small_and_records_every_family() -> None:
    small = _scrape(full=False, steps=900)  # the demo's 90 s at ten steps a second
    series = _series(small)
    assert len(series) < 300, len(series)
    assert len(small) < 200_000
    names = _names_with_samples(small)
    for family in FAMILIES:
        assert any(name.startswith(family.name) for name in names), family.name
    full = _scrape(full=True, steps=900)
    assert len(_series(full)) > 5 * len(series)
    assert _names_with_samples(full) == names, "--full changes the label values, not the metrics recorded"
