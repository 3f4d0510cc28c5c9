"""The one error type users see: a bad input, located by file, line and field."""

from __future__ import annotations

from collections.abc import Sequence

MAX_MESSAGE_CHARS = 300
MAX_PROBLEMS = 100
"""Problems listed from one input; the rest are counted on a last line (output is bounded)."""


class ScenarioError(ValueError):
    """Bad input. Printed as one line: ``file:line: field.path: message``; an input with
    several problems prints one such line for each (``several``).

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
        self.problems: tuple[ScenarioError, ...] = (self,)

    @classmethod
    def several(cls, problems: Sequence[ScenarioError]) -> ScenarioError:
        """Every problem of one input, in file order; it reads as the first (``message``,
        ``line``, ``field``) and prints one line per problem (``lines``)."""
        ordered = sorted(problems, key=lambda p: p.line if p.line is not None else 0)
        ordered = list({p.one(): p for p in ordered}.values())  # each problem once
        first = ordered[0]
        error = cls(first.message, first.file, first.line, first.field)
        error.problems = tuple(ordered)
        return error

    def lines(self) -> list[str]:
        """One line per problem (at most ``MAX_PROBLEMS``, then a count of the rest)."""
        shown = [p.one() for p in self.problems[:MAX_PROBLEMS]]
        hidden = len(self.problems) - MAX_PROBLEMS
        if hidden > 0:
            shown.append(f"{one_line(self.file)}: {hidden} more problems not listed")
        return shown

    def one(self) -> str:
        where = one_line(self.file) + (f":{self.line}" if self.line else "")
        parts = [p for p in (where, one_line(self.field), one_line(self.message)) if p]
        return ": ".join(parts)

    def __str__(self) -> str:
        return "\n".join(self.lines())


def one_line(text: str) -> str:
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text
