"""The anomaly table every review shows: schema and drift anomalies (steward), skew (early warning).

Rows are ``dropout.pipeline.outputs.anomaly_rows`` dicts plus a ``check`` column (schema, drift, skew).
The Airflow review form gets the first ``BODY_ROWS`` rows as markdown; the HTML report has them all.
"""

from __future__ import annotations

import html
from typing import Any

BODY_ROWS = 25  # rows of a table shown in the Airflow review form; the HTML report has all
_COLUMNS = ("check", "split", "feature", "severity", "type", "description", "measured vs threshold")
_STYLE = (
    "body{font-family:sans-serif}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
)


def measured_vs_threshold(row: dict[str, Any]) -> str:
    return "; ".join(
        f"{m['type']} {m['value']:.4f} > {m['threshold']:.4f}" for m in row.get("measurements", [])
    )


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    return (
        row["check"],
        row["split"],
        row["feature"],
        row["severity"],
        ", ".join(row["types"]),
        row["description"],
        measured_vs_threshold(row),
    )


def anomaly_table(rows: list[dict[str, Any]]) -> list[str]:
    """The markdown table a reviewer sees in a review form (the first ``BODY_ROWS`` rows, then a count)."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for row in rows[:BODY_ROWS]:
        check, split, feature, severity, types, description, measured = _cells(row)
        description = description.replace("|", "/").replace("\n", " ")
        lines.append(
            f"| {check} | {split} | `{feature}` | {severity} | {types} | {description} | {measured} |"
        )
    if len(rows) > BODY_ROWS:
        lines.append(f"\n… {len(rows) - BODY_ROWS} more in the full report.")
    return lines


def anomaly_table_html(rows: list[dict[str, Any]]) -> str:
    """Every row as an HTML table."""
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in _COLUMNS) + "</tr>"
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in _cells(r)) + "</tr>" for r in rows
    )
    return f"<table>{head}{body}</table>"


def html_page(title: str, body: str) -> str:
    """A self-contained report page (no external assets)."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )
