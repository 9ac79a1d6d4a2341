"""The manager's approval: the candidate against the champion, and the decision to push it.

The summary compares the FairnessGate reports (overall and per slice) of this run's candidate and of
the champion (``dropout.pipeline.champion``: the model being served), as JSON, HTML and the markdown
body of the Airflow review form. Anything but "Approve" keeps the champion serving.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from dropout.contract.decisions import APPROVAL_OPTIONS, APPROVE, REJECT
from dropout.contract.settings import Settings
from dropout.review import records
from dropout.review.report import BODY_ROWS, html_page

# What managers compare: overall and per slice.
SUMMARY_METRICS = ("auc", "recall", "f1", "precision_at_top", "precision", "example_count")


def _slices(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for row in report["slices"]:
        name = ", ".join(f"{k}={v}" for k, v in row["slice"].items()) or "overall"
        rows.append({"slice": name, **{m: row["metrics"].get(m) for m in SUMMARY_METRICS}})
    return sorted(rows, key=lambda r: (r["slice"] != "overall", r["slice"]))


def candidate_summary(settings: Settings, run_id: str) -> dict[str, Any]:
    """Candidate (this run) against champion (the model being served) from the FairnessGate reports."""
    from dropout.pipeline import champion as champion_lib
    from dropout.pipeline import outputs

    pipe = settings.pipeline
    run = outputs.run_outputs(pipe.metadata_path, pipe.name, run_id)
    candidate = outputs.read_fairness(run.uri("FairnessGate", "blessing"))
    summary: dict[str, Any] = {
        "run_id": run_id,
        "blessed": bool(candidate["blessed"]),
        "reason": candidate["reason"],
        "candidate": {
            "slices": _slices(candidate),
            "fairness_gap": candidate["fairness"]["gap"],
            "fairness": candidate["fairness"],
        },
        "champion": None,
    }
    champion = champion_lib.find_champion(
        pipe.metadata_path, Path(pipe.serving_root) / pipe.model_name, exclude_run=run_id
    )
    if champion is not None and champion.run_id is not None:
        report = outputs.read_fairness(
            outputs.run_outputs(pipe.metadata_path, pipe.name, champion.run_id).uri(
                "FairnessGate", "blessing"
            )
        )
        summary["champion"] = {
            "run_id": champion.run_id,
            "version": champion.version,
            "slices": _slices(report),
            "fairness_gap": report["fairness"]["gap"],
        }
    return summary


def _fmt(value: Any) -> str:
    return "—" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def candidate_markdown(summary: dict[str, Any], html_path: str) -> str:
    champion = summary["champion"]
    champ_rows = {r["slice"]: r for r in champion["slices"]} if champion else {}
    lines = [
        f"**{'Blessed' if summary['blessed'] else 'Not blessed'}** by the FairnessGate: {summary['reason']}",
        "",
        f"Champion: {'run `' + champion['run_id'] + '`' if champion else 'none yet (first model)'}. "
        "The champion's figures are from its own evaluation span.",
        "",
        "| slice | metric | candidate | champion |",
        "|---|---|---|---|",
    ]
    shown = 0
    for row in summary["candidate"]["slices"]:
        for metric in SUMMARY_METRICS:
            if row.get(metric) is None or shown >= BODY_ROWS * 2:
                continue
            lines.append(
                f"| {row['slice']} | {metric} | {_fmt(row[metric])} | "
                f"{_fmt(champ_rows.get(row['slice'], {}).get(metric))} |"
            )
            shown += 1
    lines.append(
        f"| {summary['candidate']['fairness']['attribute']} | recall gap | "
        f"{_fmt(summary['candidate']['fairness_gap'])} | {_fmt(champion['fairness_gap'] if champion else None)} |"
    )
    lines += [
        "",
        f"Full report: `{html_path}`",
        "",
        f"*{APPROVE}*: Pusher deploys the candidate. *{REJECT}* (also the default when nobody answers "
        "in time): nothing is pushed, the champion keeps serving.",
    ]
    return "\n".join(lines)


def write_candidate_summary(settings: Settings, run_id: str) -> dict[str, Any]:
    summary = candidate_summary(settings, run_id)
    out = records.review_dir(settings, run_id)
    json_path, html_path = out / records.CANDIDATE, out / "candidate.html"
    records.write_json(json_path, summary)
    body = candidate_markdown(summary, str(html_path))
    html_path.write_text(html_page("Candidate review", "<pre>" + html.escape(body) + "</pre>"))
    return {
        "blessed": summary["blessed"],
        "reason": summary["reason"],
        "report_json": str(json_path),
        "report_html": str(html_path),
        "body": body,
    }


def record_approval(settings: Settings, run_id: str, span: int, decision: str, by: str, at: str) -> dict:
    if decision not in APPROVAL_OPTIONS:
        raise ValueError(f"decision {decision!r} is not one of {APPROVAL_OPTIONS}")
    record = {
        "run_id": run_id,
        "span": span,
        "decision": decision,
        "by": by,
        "at": at or records.now(),
        "recorded_at": records.now(),
        "approved": decision == APPROVE,
    }
    path = records.review_dir(settings, run_id) / records.APPROVAL
    records.write_json(path, record)
    return {**record, "record": str(path)}
