"""One early-warning run, and the later outcome check, as plain functions the CLI and tests call."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dropout import features as F

from . import actions as A
from . import reasons as R
from . import scoring, store
from .examples import serving_examples

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarningRun:
    """Everything one run needs (built from settings by the CLI)."""

    run_id: str
    data_root: Path
    model_dir: Path
    out_dir: Path
    key: bytes
    window_days: int
    threshold: float = 0.8
    top_fraction: float = 0.1
    high_actions: tuple[str, ...] = ()
    top_actions: tuple[str, ...] = ()
    channels: A.Channels | None = None
    outcome_days: int = 7
    as_of: dt.date | None = None
    ig_steps: int = 16


def run(config: WarningRun) -> dict[str, Any]:
    """Score the active learners, explain and act on the flagged ones, write the risk list.

    Returns a JSON-able summary: counts, the champion version, paths, actions by status.
    """
    columns, counts = serving_examples(config.data_root, config.key, config.window_days, as_of=config.as_of)
    champion = scoring.load_champion(config.model_dir)
    n = len(columns[F.LEARNER_KEY])
    risk = scoring.score(champion, columns) if n else np.zeros(0, np.float32)
    rank, band = scoring.rank_and_flag(risk, config.threshold, config.top_fraction)
    flagged = np.flatnonzero(band != "")
    reasons = [""] * n
    if len(flagged):
        attributions, _, _ = scoring.integrated_gradients(champion, columns, flagged, steps=config.ig_steps)
        for j, i in enumerate(flagged):
            row = {k: columns[k][i] for k in F.sequence_keys()}
            grouped = R.group_attributions({k: v[j] for k, v in attributions.items()}, row[F.ENROLLED_MASK_KEY])
            reasons[i] = R.reason(row, grouped)
    scored_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    rows = [
        {"learner": str(columns[F.LEARNER_KEY][i]), "course_id": str(columns["course_id"][i]), "risk": float(risk[i]),
         "rank": int(rank[i]), "band": str(band[i]), "reason": reasons[i]}
        for i in range(n)
    ]
    con = store.connect(config.out_dir / "risk.sqlite")
    csv_path = config.out_dir / "runs" / f"risk-{config.run_id}.csv"
    store.write_risk_list(con, csv_path, config.run_id, scored_at, champion.version, rows)

    acted: dict[str, int] = {}
    if len(flagged) and config.channels is not None:
        addresses = A.learner_addresses(config.data_root / "learners.csv", config.key) \
            if any("email_learner" in a for a in (config.high_actions, config.top_actions)) else {}
        last_day = dt.date.fromisoformat(counts["window_last_day"])
        due = (last_day + dt.timedelta(days=config.outcome_days)).isoformat()
        for i in flagged:
            item = A.Flagged(**rows[i])
            for action in config.high_actions if item.band == "high" else config.top_actions:
                status, detail = A.HANDLERS[action](item, config.channels, addresses)
                store.record_intervention(con, run_id=config.run_id, learner=item.learner, course_id=item.course_id,
                                          band=item.band, action=action, status=status, detail=detail,
                                          acted_at=last_day.isoformat(), outcome_due=due)
                acted[status] = acted.get(status, 0) + 1
    con.close()
    return {
        "run_id": config.run_id,
        "model_version": champion.version,
        "window": [counts["window_first_day"], counts["window_last_day"]],
        "input_records": counts["input_records"],
        "quarantined": counts["quarantined"],
        "active_learners": n,
        "flagged": int(len(flagged)),
        "flagged_high": int((band == "high").sum()),
        "flagged_top_only": int((band == "top").sum()),
        "actions": acted,
        "risk_csv": str(csv_path),
        "database": str(config.out_dir / "risk.sqlite"),
    }


def check_outcomes(data_root: Path, out_dir: Path, key: bytes, outcome_days: int, today: dt.date) -> dict[str, Any]:
    """Record, for each due intervention, whether the learner was active within ``outcome_days`` after it.

    The days after the intervention go through the same ingestion (SERVING mode); "came back" means
    at least one accepted event on one of those days.
    """
    con = store.connect(out_dir / "risk.sqlite")
    due = store.due_outcomes(con, today.isoformat())
    by_day: dict[str, list[tuple[str, str, str]]] = {}
    for run_id, learner, course, acted_at in due:
        by_day.setdefault(acted_at, []).append((run_id, learner, course))
    came_back = 0
    for acted_at, items in by_day.items():
        last = dt.date.fromisoformat(acted_at) + dt.timedelta(days=outcome_days)
        columns, _ = _all_enrolled(data_root, key, outcome_days, last)
        active = {(str(lr), str(c)): bool(np.asarray(a).sum() > 0)
                  for lr, c, a in zip(columns[F.LEARNER_KEY], columns["course_id"], columns[F.ACTIVE_MASK_KEY], strict=True)}
        for run_id, learner, course in items:
            back = active.get((learner, course), False)
            came_back += int(back)
            store.set_outcome(con, run_id, learner, course, back, today.isoformat())
    con.close()
    return {"checked": len(due), "came_back": came_back}


def _all_enrolled(data_root: Path, key: bytes, days: int, last: dt.date):
    from dropout.ingest.span import ingest_span

    first = last - dt.timedelta(days=days - 1)
    result = ingest_span(Path(data_root) / "landing", Path(data_root) / "learners.csv", None, first_day=first,
                         span=0, window_days=days, key=key, mode="serving", threads=1)
    table = result.examples.to_pydict()
    columns = {F.LEARNER_KEY: table[F.LEARNER_KEY], "course_id": table["course_id"],
               F.ACTIVE_MASK_KEY: table[F.ACTIVE_MASK_KEY]}
    return columns, result.counts
