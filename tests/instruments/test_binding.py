"""A switched-off metric's stand-in handle checks value types as a live handle does."""

from __future__ import annotations

import pytest

from otelsvc.instruments._binding import Binder


@pytest.mark.parametrize("method", ["add", "set", "record"])
def test_a_switched_off_metric_still_rejects_values_that_are_not_real(method: str) -> None:
    handle = Binder(None, None, (), {})()
    record = getattr(handle, method)
    record(1)
    record(0.5)
    record(True)
    for bad in (None, 1j, "3"):
        with pytest.raises(TypeError, match="real number"):
            record(bad)
