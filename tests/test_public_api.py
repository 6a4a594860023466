"""The public surface: ``__all__`` is sorted, complete and importable; private modules stay private."""

from __future__ import annotations

import importlib
import pkgutil

import otelsvc


def test_all_is_sorted_and_importable() -> None:
    assert list(otelsvc.__all__) == sorted(otelsvc.__all__)
    for name in otelsvc.__all__:
        assert hasattr(otelsvc, name), name


def test_public_names_match_module_exports() -> None:
    public = {name for name in dir(otelsvc) if not name.startswith("_")} - {"testing", "instruments", "asgi", "wsgi"}
    modules = {name for name in public if isinstance(getattr(otelsvc, name), type(otelsvc))}
    assert public - modules == set(otelsvc.__all__) - {"__version__"}


def test_every_private_module_declares_all() -> None:
    for info in pkgutil.walk_packages(otelsvc.__path__, "otelsvc."):
        leaf = info.name.rsplit(".", 1)[1]
        if leaf.startswith("_") and leaf not in ("__main__",):
            module = importlib.import_module(info.name)
            assert hasattr(module, "__all__"), f"{info.name} has no __all__"


def test_py_typed_is_shipped() -> None:
    from pathlib import Path

    assert (Path(otelsvc.__file__).parent / "py.typed").exists()
