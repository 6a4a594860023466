"""The one exception otelsvc raises for bad configuration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from otelsvc._redact import redact_text

__all__ = ["ConfigError", "SettingProblem"]


@dataclass(frozen=True)
class SettingProblem:
    """One bad setting: where it came from (keyword or variable), its value and what is wrong."""

    source: str
    value: str = field(repr=False)
    message: str
    secret: bool = False

    def __str__(self) -> str:
        shown = "<redacted>" if self.secret else repr(redact_text(self.value))
        return f"{self.source}={shown}: {self.message}"


class ConfigError(ValueError):
    """Raised by ``otelsvc.start()`` listing every bad setting, before any thread or socket exists."""

    def __init__(self, problems: Sequence[SettingProblem] | str) -> None:
        if isinstance(problems, str):
            self.problems: tuple[SettingProblem, ...] = ()
            super().__init__(problems)
            return
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        noun = "setting" if len(self.problems) == 1 else "settings"
        super().__init__(f"invalid otelsvc configuration ({len(self.problems)} bad {noun}):\n{lines}")
