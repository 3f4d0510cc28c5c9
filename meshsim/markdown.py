"""Markdown tables: the one writer every Markdown file meshsim writes uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def markdown_table(frame: pd.DataFrame, cell: Callable[[object], str] = str) -> str:
    """A pipe table with a header row; ``cell`` formats each value."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(cell(row[c]) for c in cols) + " |")
    return "\n".join(lines)
