"""Lead time: how early a warning comes, measured point in time on learners' daily activity.

An early warning is worth the time it leaves to act. A learner flagged after a week without any
activity is one course staff could have found without a model; a learner flagged while still
active can still be reached. This module is the one definition of those ideas:

- ``activity_labels(active, enrolled, days)``: ``silent`` when there was no activity on any of the
  learner's last ``days`` enrolled days (``dropout.ingestion.aggregate.silent``), else ``active``: the
  risk list's ``activity_state`` column.
- ``lead_time(active, first_flag, dropped)``: over a season of daily flags, among learners who
  eventually drop out, the share first flagged while still active and the days between the first
  flag and the last activity (positive: flagged that many days before the learner went quiet);
  among flagged learners, the share already silent when first flagged, and the precision.
- ``rule_first_flag(active, enrolled, days)``: the first day the rule anyone can apply without a
  model ("no activity for ``days`` days") would flag each learner, for the comparison.

Inputs are plain arrays over one calendar (index 0 = the season's first day): ``active`` and
``enrolled`` are ``[learners, days]`` booleans, ``first_flag`` the day index of each learner's first
flag (-1: never flagged), ``dropped`` the eventual label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dropout.ingestion.aggregate import silent

ACTIVE = "active"
SILENT = "silent"
NEVER = -1  # first_flag of a learner never flagged
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def activity_labels(active: np.ndarray, enrolled: np.ndarray, days: int) -> np.ndarray:
    """``"silent"`` / ``"active"`` per learner (``dropout.ingestion.aggregate.silent``)."""
    return np.where(silent(active, enrolled, days), SILENT, ACTIVE).astype(object)


def _last_active(active: np.ndarray) -> np.ndarray:
    days = active.shape[1]
    any_active = active.any(axis=1)
    last = days - 1 - np.argmax(active[:, ::-1], axis=1)
    return np.where(any_active, last, NEVER)


def _active_before(active: np.ndarray, day: np.ndarray, days: int) -> np.ndarray:
    """Whether each learner was active on at least one of the ``days`` days ending on ``day`` (inclusive)."""
    idx = np.arange(active.shape[1])
    lo = (day - days + 1)[:, None]
    window = (idx[None, :] >= lo) & (idx[None, :] <= day[:, None])
    return (active & window).any(axis=1)


def rule_first_flag(active: np.ndarray, enrolled: np.ndarray, days: int) -> np.ndarray:
    """First day on which "no activity for ``days`` enrolled days" holds for each learner (``NEVER`` if not).

    The rule only fires once a learner has been enrolled for ``days`` days (a learner who enrolled
    yesterday is not silent for a week).
    """
    active = np.asarray(active) > 0.5
    enrolled = np.asarray(enrolled) > 0.5
    n, total = active.shape
    first = np.full(n, NEVER, np.int64)
    quiet = np.zeros(n, np.int64)  # consecutive enrolled days without activity, up to today
    for d in range(total):
        quiet = np.where(enrolled[:, d] & ~active[:, d], quiet + 1, np.where(active[:, d], 0, quiet))
        hit = (quiet >= days) & (first == NEVER)
        first[hit] = d
    return first


def lead_time(
    active: np.ndarray, first_flag: np.ndarray, dropped: np.ndarray, silent_days: int = 7
) -> dict[str, Any]:
    """Lead-time figures of one flagging policy over one season (see the module docstring).

    Returns:
        A JSON-able dict: ``dropouts``, ``flagged``, ``flagged_dropouts``, ``recall``, ``precision``,
        ``share_dropouts_flagged_while_active`` (of all dropouts), ``share_flagged_already_silent``
        (of all flagged), ``median_lead_days`` and ``lead_days_quantiles`` (over flagged dropouts who
        were ever active; None when there are none), ``lead_days`` (the distribution as
        ``{days: learners}``).
    """
    active = np.asarray(active) > 0.5
    first_flag = np.asarray(first_flag, np.int64)
    dropped = np.asarray(dropped).astype(bool)
    if not (len(active) == len(first_flag) == len(dropped)):
        raise ValueError(
            f"lead_time: {len(active)} activity rows, {len(first_flag)} flags, {len(dropped)} labels; one per learner"
        )
    flagged = first_flag != NEVER
    at = np.where(flagged, first_flag, 0)
    active_at_flag = _active_before(active, at, silent_days) & flagged
    last = _last_active(active)
    counted = flagged & dropped & (last != NEVER)
    lead = (last - first_flag)[counted]
    n_drop, n_flag = int(dropped.sum()), int(flagged.sum())
    hits = int((flagged & dropped).sum())
    values, counts = np.unique(lead, return_counts=True)
    return {
        "learners": int(len(dropped)),
        "dropouts": n_drop,
        "flagged": n_flag,
        "flagged_dropouts": hits,
        "recall": hits / n_drop if n_drop else None,
        "precision": hits / n_flag if n_flag else None,
        "share_dropouts_flagged_while_active": (
            int((active_at_flag & dropped).sum()) / n_drop if n_drop else None
        ),
        "share_flagged_already_silent": int((flagged & ~active_at_flag).sum()) / n_flag if n_flag else None,
        "median_lead_days": float(np.median(lead)) if len(lead) else None,
        "lead_days_quantiles": (
            {str(q): float(np.quantile(lead, q)) for q in QUANTILES} if len(lead) else None
        ),
        "lead_days": {int(v): int(c) for v, c in zip(values, counts, strict=True)},
        "silent_days": silent_days,
    }


def first_flags(con: Any, learners: list[tuple[str, str]], first_day: str) -> np.ndarray:
    """Day index (from ``first_day``) of each (learner, course)'s first flag in the store's risk lists.

    A run's flag belongs to its window's last landing day (what the score saw), not to the clock.
    """
    import datetime as dt

    rows = con.execute(
        "SELECT r.learner, r.course_id, min(u.window_last_day) FROM risk_list r "
        "JOIN runs u ON u.run_id = r.run_id WHERE r.band != '' GROUP BY r.learner, r.course_id"
    ).fetchall()
    start = dt.date.fromisoformat(first_day)
    day = {(lr, c): (dt.date.fromisoformat(d) - start).days for lr, c, d in rows}
    return np.array([day.get(k, NEVER) for k in learners], np.int64)


def season(
    data_root: str | Path,
    out_dir: str | Path,
    key: bytes,
    first_day: Any,
    last_day: Any,
    silent_days: int = 7,
    rule_days: tuple[int, ...] = (7,),
    label_column: str = "dropped_out",
) -> dict[str, Any]:
    """Lead time of the early-warning store's flags over ``first_day..last_day``, beside the silence rule.

    Daily activity and the eventual label come through ingestion (training mode: the same validation,
    quarantine and pseudonyms as every other path) over the whole season as one window; flags are
    the store's risk lists (``first_flags``). Learners without an outcome yet are left out, as in
    training. Returns ``{"model": lead_time(...), "rule_<N>_days": lead_time(...), "counts": ...}``.
    """
    from dropout.contract import features as F
    from dropout.feedback import store
    from dropout.ingestion.aggregate import feature_columns
    from dropout.ingestion.span import ingest_span

    days = (last_day - first_day).days + 1
    root = Path(data_root)
    result = ingest_span(
        root / "landing",
        root / "learners.csv",
        root / "outcomes.csv",
        first_day=first_day,
        span=0,
        window_days=days,
        key=key,
        label_column=label_column,
        mode="training",
        threads=1,
    )
    cols = feature_columns(result.examples, days)
    table = result.examples.select([F.LEARNER_KEY, "course_id", F.LABEL_KEY]).to_pydict()
    learners = list(zip(table[F.LEARNER_KEY], table["course_id"], strict=True))
    active = cols[F.ACTIVE_MASK_KEY] > 0.5
    enrolled = cols[F.ENROLLED_MASK_KEY] > 0.5
    dropped = np.asarray(table[F.LABEL_KEY]) == 1
    con = store.connect(store.store_path(out_dir))
    try:
        flags = first_flags(con, learners, first_day.isoformat())
    finally:
        con.close()
    out: dict[str, Any] = {"model": lead_time(active, flags, dropped, silent_days)}
    for n in rule_days:
        out[f"rule_{n}_days"] = lead_time(active, rule_first_flag(active, enrolled, n), dropped, silent_days)
    out["counts"] = {
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
        "learners": len(learners),
        "input_records": result.counts["input_records"],
        "quarantined": result.counts["quarantined"],
    }
    return out
