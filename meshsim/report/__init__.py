"""``meshsim report``: one scenario, every mode, as a page people would rather look at.

Split by job: ``gather`` runs the simulations, capacity searches and cost estimates;
``tables`` and ``plots`` turn them into DataFrames and PNG figures; ``document`` lays them out
as sections and writes the files; ``render`` turns sections into Markdown and one HTML page.
"""

from __future__ import annotations

from meshsim.report.document import build, write_report
from meshsim.report.gather import ProfileRun, ReportData, gather
from meshsim.report.render import _cell, to_html, to_markdown
from meshsim.report.tables import (
    cost_kind_table,
    per_call_table,
    profiles_table,
    saving_table,
    summary_table,
)

__all__ = [
    "ProfileRun",
    "ReportData",
    "_cell",
    "build",
    "cost_kind_table",
    "gather",
    "per_call_table",
    "profiles_table",
    "saving_table",
    "summary_table",
    "to_html",
    "to_markdown",
    "write_report",
]
