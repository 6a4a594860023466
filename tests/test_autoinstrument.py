"""Opt-in auto-instrumentation through the ``opentelemetry_instrumentor`` entry points.

The instrumentors here are real distributions on ``sys.path`` (a dist-info with entry points), so
discovery goes through ``importlib.metadata`` exactly as for an installed contrib package.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from otelsvc import _autoinstrument as auto

_MODULE = """
import json

calls = []


class _Base:
    _instance = None
    instrumented = False

    def __new__(cls):
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    @property
    def is_instrumented_by_opentelemetry(self):
        return self.instrumented

    def _check_dependency_conflicts(self):
        return None

    def instrument(self, **kwargs):
        kwargs.pop("skip_dep_check", None)
        calls.append(("instrument", type(self).__name__, sorted(kwargs)))
        self.instrumented = True
        self.providers = kwargs

    def uninstrument(self, **kwargs):
        calls.append(("uninstrument", type(self).__name__))
        self.instrumented = False


class JsonInstrumentor(_Base):
    pass


class FlaskInstrumentor(_Base):
    pass


class NeedsLibInstrumentor(_Base):
    def _check_dependency_conflicts(self):
        return "DependencyConflict: requested: \\"notalib >= 1\\" but found: \\"None\\""
"""


@pytest.fixture
def instrumentors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    (tmp_path / "fakeinst.py").write_text(_MODULE)
    dist = tmp_path / "fakeinst-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeinst\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent("""
        [opentelemetry_instrumentor]
        json = fakeinst:JsonInstrumentor
        flask = fakeinst:FlaskInstrumentor
        needslib = fakeinst:NeedsLibInstrumentor
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import fakeinst  # type: ignore[import-not-found]

    yield fakeinst
    import sys

    sys.modules.pop("fakeinst", None)


def test_unknown_name_names_the_pip_package(instrumentors: object) -> None:
    assert auto.check_names(["json"]) == []
    (problem,) = auto.check_names(["requests"])
    assert "pip install opentelemetry-instrumentation-requests" in problem
    (problem,) = auto.check_names(["needslib"])
    assert "notalib" in problem
    assert auto.check_names(["all", "json"]) == ["'all' cannot be combined with other names"]


def test_activation_gets_the_providers_and_is_undone(instrumentors: object) -> None:
    tp, mp = object(), object()
    owner = object()
    activation = auto.activate(["json"], owner, tracer_provider=tp, meter_provider=mp)
    assert activation is not None and activation.names == ["json"]
    calls = instrumentors.calls  # type: ignore[attr-defined]
    assert calls == [("instrument", "JsonInstrumentor", ["meter_provider", "tracer_provider"])]
    instance = instrumentors.JsonInstrumentor()  # type: ignore[attr-defined]
    assert instance.providers["tracer_provider"] is tp
    activation.undo()
    assert calls[-1] == ("uninstrument", "JsonInstrumentor")
    assert not instance.instrumented


def test_all_leaves_out_server_frameworks(instrumentors: object) -> None:
    activation = auto.activate(["all"], object())
    assert activation is not None
    assert activation.names == ["json"]  # flask is a server framework; needslib lacks its library
    activation.undo()


def test_second_owner_is_logged_and_ignored(instrumentors: object, caplog: pytest.LogCaptureFixture) -> None:
    first = auto.activate(["json"], "guard-1")
    assert first is not None
    with caplog.at_level(logging.WARNING, logger="otelsvc"):
        assert auto.activate(["json"], "guard-2") is None
    assert "another guard" in caplog.text
    first.undo()
    second = auto.activate(["json"], "guard-2")
    assert second is not None and second.names == ["json"]
    second.undo()


def test_pip_package_rule() -> None:
    assert auto.pip_package("aiohttp_client") == "opentelemetry-instrumentation-aiohttp-client"
    assert auto.pip_package("sqlalchemy") == "opentelemetry-instrumentation-sqlalchemy"
