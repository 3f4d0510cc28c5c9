"""A report as a list of sections, and its two renderings: Markdown and one HTML file.

A section holds paragraphs (``str``), bullet lists, tables and figures. ``to_markdown`` links
each figure's PNG beside the file; ``to_html`` embeds it as base64, so the page opens offline.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field

import pandas as pd

from meshsim.markdown import markdown_table


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    name: str  # file name of the PNG beside report.md
    png: bytes
    caption: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


Block = str | Table | Figure | Bullets


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.3f}"
    if value is None:
        return "-"
    return str(value)


def to_markdown(sections: list[Section]) -> str:
    out: list[str] = []
    for i, sec in enumerate(sections):
        out.append(("# " if i == 0 else "## ") + sec.title)
        for block in sec.blocks:
            if isinstance(block, str):
                out.append(block)
            elif isinstance(block, Bullets):
                out.append("\n".join(f"- {item}" for item in block.items))
            elif isinstance(block, Table):
                out.append(markdown_table(block.frame, _cell))
                if block.caption:
                    out.append(f"*{block.caption}*")
            else:
                out.append(f"![{block.name}]({block.name})\n\n*{block.caption}*")
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #333}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:0.85em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
caption{caption-side:bottom;text-align:left;font-size:0.85em;color:#555;padding-top:4px}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:0.85em;color:#555}code{background:#f3f3f3;padding:0 3px}
"""


def to_html(sections: list[Section]) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(sections[0].title)}</title>",
        f"<style>{_CSS}</style></head><body>",
    ]
    for i, sec in enumerate(sections):
        tag = "h1" if i == 0 else "h2"
        out.append(f"<{tag}>{_inline(sec.title)}</{tag}>")
        for block in sec.blocks:
            if isinstance(block, str):
                out.append(f"<p>{_inline(block)}</p>")
            elif isinstance(block, Bullets):
                items = "".join(f"<li>{_inline(item)}</li>" for item in block.items)
                out.append(f"<ul>{items}</ul>")
            elif isinstance(block, Table):
                cols = list(block.frame.columns)
                head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
                body = "".join(
                    "<tr>"
                    + "".join(f"<td>{html.escape(_cell(row[c]))}</td>" for c in cols)
                    + "</tr>"
                    for _, row in block.frame.iterrows()
                )
                caption = f"<caption>{_inline(block.caption)}</caption>" if block.caption else ""
                out.append(f"<table>{caption}<tr>{head}</tr>{body}</table>")
            else:
                data = base64.b64encode(block.png).decode()
                out.append(
                    f'<figure><img alt="{html.escape(block.name)}" '
                    f'src="data:image/png;base64,{data}">'
                    f"<figcaption>{_inline(block.caption)}</figcaption></figure>"
                )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
