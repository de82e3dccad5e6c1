"""Text in terminal columns. A CJK character takes two columns, so widths count columns, not
characters: every table (check, list, stats) lines up in Chinese as in English."""
from __future__ import annotations

import unicodedata


def width(text: str) -> int:
    """How many terminal columns text takes."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def pad(text: str, columns: int, align: str = "<") -> str:
    """text padded with spaces to columns terminal columns, on the right ('<') or left ('>')."""
    space = " " * max(0, columns - width(text))
    return space + text if align == ">" else text + space


def table(rows: list[tuple[str, ...]], align: str, gap: str = "  ") -> list[str]:
    """Rows of cells (the header first) as lines, each column as wide as its widest cell.

    align has one character per column, '<' or '>'. The last column is not padded on the
    right, so no line ends in spaces.
    """
    widths = [max(width(row[i]) for row in rows) for i in range(len(align))]
    lines = []
    for row in rows:
        cells = [pad(cell, w, a) for cell, w, a in zip(row, widths, align)]
        if align[-1] == "<":
            cells[-1] = row[-1]
        lines.append(gap.join(cells))
    return lines
