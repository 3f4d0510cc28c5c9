"""The one error type users see: a bad input, located by file, line and field."""

from __future__ import annotations


class ScenarioError(ValueError):
    """Bad input. Printed as one line: ``file:line: field.path: message``."""

    def __init__(self, message: str, file: str = "", line: int | None = None, field: str = ""):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        parts = [p for p in (where, self.field, self.message) if p]
        return ": ".join(parts)
