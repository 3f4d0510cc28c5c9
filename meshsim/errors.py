"""The one error type users see: a bad input, located by file, line and field."""

from __future__ import annotations

MAX_MESSAGE_CHARS = 300


class ScenarioError(ValueError):
    """Bad input. Printed as one line: ``file:line: field.path: message``.

    The line is always one line and short: control characters in any part (a file name or a
    value quoted from the input) are escaped, and each part is cut to a few hundred characters,
    so an error can never print a whole file.
    """

    def __init__(self, message: str, file: str = "", line: int | None = None, field: str = ""):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = one_line(self.file) + (f":{self.line}" if self.line else "")
        parts = [p for p in (where, one_line(self.field), one_line(self.message)) if p]
        return ": ".join(parts)


def one_line(text: str) -> str:
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text
