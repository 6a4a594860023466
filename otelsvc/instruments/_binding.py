"""From a family declaration to live instruments and cached, pre-bound handles.

``FamilyInstruments`` creates one bridged instrument per declared metric (the declaration is the
only place names, units, labels and buckets are written). ``Binder`` gives handles for label values
checked against the declared closed sets once, then cached, so the recording path builds no
attribute dict and does no validation.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, cast

from typing_extensions import TypeVar

from otelsvc._handles import Handle
from otelsvc._prefork import declare_gauge
from otelsvc.instruments._interner import Interner
from otelsvc.instruments._spec import Family, Label, MetricSpec

if TYPE_CHECKING:
    from otelsvc._bridge import BridgedInstrument
    from otelsvc._guard import ProviderGuard

__all__ = ["Binder", "FamilyInstruments", "check_value"]

# Untyped binders (``Binder``) give Any; families type theirs as ``Binder[CounterHandle]`` and so on.
H = TypeVar("H", bound=Handle, default=Any)


def check_value(label: Label, value: object, interners: Mapping[str, Interner]) -> str:
    """The label value to record: a closed-set member (else ValueError) or the interned value."""
    if label.values is not None:
        text = value if isinstance(value, str) else str(value)
        if text not in label.values:
            raise ValueError(f"label {label.name}={text!r} is not one of {', '.join(label.values)}")
        return text
    interner = interners.get(label.name)
    return interner(value) if interner is not None else str(value)


class FamilyInstruments:
    """The bridged instruments of one family on one guard, by declared (un-namespaced) name."""

    def __init__(
        self,
        guard: ProviderGuard,
        family: Family,
        *,
        namespace: str | None = None,
        legacy: bool = True,
        extra_labels: Mapping[str, tuple[str, ...]] | None = None,
        specs: Callable[[MetricSpec], MetricSpec] | None = None,
    ) -> None:
        self.family = family
        self.namespace = namespace if family.namespaced else None
        self.specs: dict[str, MetricSpec] = {}
        self.instruments: dict[str, BridgedInstrument] = {}
        for spec in family.metrics:
            if spec.legacy and not legacy:
                continue
            if specs is not None:
                spec = specs(spec)
            self.specs[spec.name] = spec
            self.instruments[spec.name] = guard.bridge.instrument(
                spec.full_name(self.namespace),
                spec.kind,
                spec.unit,
                spec.description,
                spec.label_names,
                spec.bounds,
            )
            if spec.prefork != "per_worker":
                declare_gauge(spec.full_name(self.namespace), spec.prefork)
        guard.families.add(family.name)

    def __getitem__(self, name: str) -> BridgedInstrument:
        return self.instruments[name]

    def __contains__(self, name: str) -> bool:
        return name in self.instruments


class Binder(Generic[H]):
    """Handles of one instrument for a fixed leading part of its label values, cached by the rest."""

    __slots__ = ("_cache", "_checks", "_instrument", "_interners", "_labels", "_prefix", "owned")

    def __init__(
        self,
        instrument: BridgedInstrument | None,
        spec: MetricSpec | None,
        prefix: tuple[str, ...],
        interners: Mapping[str, Interner],
        handle_type: type[H] | None = None,
    ) -> None:
        if handle_type is not None and instrument is not None and not issubclass(instrument.handle_type,
                                                                                  handle_type):
            raise TypeError(f"{instrument.name} is a {instrument.kind}, not a {handle_type.__name__}")
        self._instrument = instrument
        self._prefix = prefix
        self._labels: tuple[Label, ...] = spec.labels[len(prefix):] if spec is not None else ()
        self._interners = interners
        self._cache: dict[tuple[Any, ...], H] = {}
        self.owned: list[tuple[str, ...]] = []

    def __call__(self, *rest: Any) -> H:
        """The handle for these remaining label values (checked once per distinct accepted value).

        Values folded into ``other`` are not cached under their raw form, so a flood of distinct
        values costs a few dict probes per call and no memory.
        """
        handle = self._cache.get(rest)
        if handle is not None:
            return handle
        if self._instrument is None:
            return cast(H, _NOOP)
        if len(rest) != len(self._labels):
            raise TypeError(f"{self._instrument.name} takes {len(self._labels)} more label value(s)")
        checked = tuple(
            check_value(label, value, self._interners) for label, value in zip(self._labels, rest, strict=True)
        )
        values = self._prefix + checked
        bound = self._cache.get(checked)
        if bound is None:
            bound = cast(H, self._instrument.bind(*values))
            self._cache[checked] = bound
            self.owned.append(values)
        if checked == rest:
            self._cache[rest] = bound
        return bound

    def release(self) -> None:
        """Remove every series this binder made (per-instance retention)."""
        if self._instrument is not None:
            for values in self.owned:
                self._instrument.remove(*values)
        self._cache.clear()
        self.owned.clear()


def _check_real(value: object) -> None:
    """TypeError for a non-real, as a live handle raises: switching a metric off must not hide a bug."""
    cls = value.__class__
    if cls is not int and cls is not float and not isinstance(value, numbers.Real):
        raise TypeError(f"a measurement must be a real number, not {cls.__name__}")


class _NoopHandle:
    """Stands in for a switched-off metric (legacy names off): records nothing, checks the type."""

    def add(self, n: float = 1) -> None:
        _check_real(n)

    def set(self, v: float) -> None:
        _check_real(v)

    def record(self, v: float) -> None:
        _check_real(v)


_NOOP = _NoopHandle()
