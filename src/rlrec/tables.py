"""Result tables: rows of `mean ± std` cells, rendered as terminal text, Markdown, CSV or JSON.

Every table rlrec prints or writes goes through here, so all of them read alike. A table is a
list of rows `{"method": name, metric: {"mean": m, "std": s}, ...}` plus the metric columns.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

Row = dict[str, Any]


def cell(value: Any, digits: int = 3) -> str:
    if isinstance(value, dict) and "mean" in value:
        if value.get("n") == 1:  # one seed: there is no spread to show
            return f"{value['mean']:.{digits}f}"
        return f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def to_text(rows: list[Row], columns: list[str], key: str = "method") -> str:
    """Aligned plain text for terminals and logs."""
    header = [key, *columns]
    body = [[str(r[key]), *(cell(r.get(c, "")) for c in columns)] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(x.rjust(w) for x, w in zip(line, widths, strict=True)) for line in body]
    return "\n".join(lines)


def to_markdown(rows: list[Row], columns: list[str], key: str = "method") -> str:
    lines = [
        "| " + " | ".join([key, *columns]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for r in rows:
        lines.append(
            "| " + " | ".join([str(r[key]), *(cell(r.get(c, "")) for c in columns)]) + " |"
        )
    return "\n".join(lines)


def to_csv(rows: list[Row], columns: list[str], key: str = "method") -> str:
    """One column per metric mean and one per std, for spreadsheets and pandas."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([key, *(f"{c}_{s}" for c in columns for s in ("mean", "std"))])
    for r in rows:
        values = []
        for c in columns:
            v = r.get(c, {})
            values += [v.get("mean", ""), v.get("std", "")] if isinstance(v, dict) else [v, ""]
        writer.writerow([r[key], *values])
    return out.getvalue()


def to_json(rows: list[Row]) -> str:
    return json.dumps(rows, indent=2, sort_keys=True) + "\n"
