"""Interventions and their outcomes from the early-warning store, joined point in time.

The early-warning job records every action it takes (``dropout.feedback.store``, table
``interventions``: one row per run, learner, course and action) and later whether the learner came
back. An example whose window ends on day D may only know what had happened by the end of D:

- ``interventions``: runs that *sent* at least one action to this learner in this course with
  ``acted_at`` on or before D (several actions of one run are one intervention);
- ``intervention_outcome``: ``came_back`` (0 or 1) of the latest such intervention whose outcome was
  checked on or before D; -1 when there is none, or when no outcome was known yet by D.

Anything later would leak the label. Training (``ingest_span`` in TRAINING mode, called by
LearnerExampleGen) and serving (``dropout.warning.examples.serving_examples``) call the same
function on the same store, so both see identical values for the same learner and window.

A missing store means no interventions (0 / -1), never an error: the first retrain runs before the
early-warning job ever did. A row that cannot be trusted is left out and counted under exactly one
reason (``REJECT_REASONS``), and ``rows == rejected + not_sent + after_window + unknown_learner +
joined`` is checked in code, as ingestion reconciles its events. Learners are joined on the keyed
pseudonym; a store row whose learner is not a pseudonym (a raw id written by mistake) is rejected
and never copied anywhere.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dropout.contract.features import PSEUDONYM_CHARS
from dropout.feedback.store import INTERVENTION_STATUSES, SENT, read_interventions_at

log = logging.getLogger(__name__)

REJECT_REASONS: tuple[str, ...] = (
    "missing_id",  # run_id, learner or course_id empty
    "not_a_pseudonym",  # learner is not a keyed pseudonym (PSEUDONYM_CHARS lowercase hex)
    "bad_status",  # status not one of the store's INTERVENTION_STATUSES
    "bad_acted_at",  # acted_at not an ISO date or date-time
    "bad_came_back",  # came_back neither NULL, 0 nor 1
    "bad_outcome_checked_at",  # outcome known without a valid check time, a check time without an outcome,
    # or checked before the intervention was sent
)
NO_OUTCOME = -1
MAX_LISTED_REJECTS = 20  # rowids of rejected rows listed in the counts, so a steward can find them
_PSEUDONYM = re.compile(rf"^[0-9a-f]{{{PSEUDONYM_CHARS}}}$")


def load_store(path: str | Path | None) -> tuple[pd.DataFrame, str]:
    """The store's intervention rows for the join (``dropout.feedback.store.read_interventions_at``)."""
    return read_interventions_at(path)


def _day(value: Any) -> dt.date | None:
    """UTC day of an ISO date or date-time string; None when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC)
    return parsed.date()


def _reasons(rows: pd.DataFrame, acted: pd.Series, checked: pd.Series) -> pd.Series:
    """The first failing reason per row (None for a good row), in ``REJECT_REASONS`` order."""

    def empty(column: str) -> pd.Series:
        return rows[column].map(lambda v: not isinstance(v, str) or not v.strip())

    came_back = rows["came_back"]
    known = came_back.map(lambda v: v is not None and not (isinstance(v, float) and np.isnan(v)))
    good_back = came_back.map(
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v in (0, 1))
    )
    checked_text = rows["outcome_checked_at"].map(lambda v: v is not None)
    before_sent = pd.Series(
        [c is not None and a is not None and c < a for c, a in zip(checked, acted, strict=True)],
        index=rows.index,
        dtype=bool,
    )
    bad_check = (known & checked.isna()) | (~known & checked_text) | (known & before_sent)
    conditions = [
        empty("run_id") | empty("learner") | empty("course_id"),
        ~rows["learner"].map(lambda v: isinstance(v, str) and bool(_PSEUDONYM.match(v))),
        ~rows["status"].isin(INTERVENTION_STATUSES),
        acted.isna(),
        ~good_back,
        bad_check,
    ]
    reason = pd.Series([None] * len(rows), index=rows.index, dtype=object)
    for condition, name in zip(reversed(conditions), reversed(REJECT_REASONS), strict=True):
        reason = reason.mask(condition.to_numpy(dtype=bool), name)
    return reason


def intervention_context(
    rows: pd.DataFrame, last_day: dt.date, pseudonyms: np.ndarray, course_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Point-in-time intervention features for each (pseudonym, course) of the learner table.

    Args:
        rows: the store's intervention rows (``load_store``).
        last_day: the example window's last landing day (D).
        pseudonyms, course_ids: aligned arrays, one entry per learner-table row.

    Returns:
        ``(interventions, outcome, counts)``: int64 arrays aligned with ``pseudonyms`` (0 and -1 for
        learners without any), and counts: ``rows``, ``rejected`` (per reason), ``rejected_rowids``
        (first few), ``not_sent``, ``after_window``, ``unknown_learner``, ``joined``,
        ``outcome_after_window`` (joined rows whose outcome was checked only after D),
        ``learners_intervened``, ``learners_with_outcome``.

    Raises:
        RuntimeError: the row reconciliation fails (a bug here, not in the store).
    """
    n = len(pseudonyms)
    interventions = np.zeros(n, dtype=np.int64)
    outcome = np.full(n, NO_OUTCOME, dtype=np.int64)
    acted = rows["acted_at"].map(_day)
    checked = rows["outcome_checked_at"].map(_day)
    reason = _reasons(rows, acted, checked)
    good = reason.isna().to_numpy()
    rejected = {r: int((reason == r).sum()) for r in REJECT_REASONS}
    if not good.all():
        log.warning(
            "early-warning store: %d intervention row(s) left out: %s (rowids %s)",
            int((~good).sum()),
            {k: v for k, v in rejected.items() if v},
            rows["rowid"][~good].tolist()[:MAX_LISTED_REJECTS],
        )

    sent = good & (rows["status"] == SENT).to_numpy()
    in_window = sent & acted.map(lambda d: d is not None and d <= last_day).to_numpy(dtype=bool)
    position = np.full(len(rows), -1, dtype=np.int64)
    if in_window.any():  # the lookup costs a dict of every learner: only when something can join
        index = {(str(p), str(c)): i for i, (p, c) in enumerate(zip(pseudonyms, course_ids, strict=True))}
        position[in_window] = [
            index.get((str(lr), str(c)), -1)
            for lr, c in zip(rows["learner"][in_window], rows["course_id"][in_window], strict=True)
        ]
    joined = in_window & (position >= 0)
    known_by_d = checked.map(lambda d: d is not None and d <= last_day).to_numpy(dtype=bool)
    came_back_known = rows["came_back"].map(lambda v: v in (0, 1) and v is not None).to_numpy(dtype=bool)

    picked = pd.DataFrame(
        {
            "pos": position[joined],
            "run_id": rows["run_id"][joined].astype(str).to_numpy(),
            "acted": acted[joined].to_numpy(),
            "back": np.where(
                known_by_d[joined], rows["came_back"][joined].map(lambda v: -1 if v is None else v), -1
            ),
        }
    )
    if len(picked):
        # One intervention per run, whatever the number of actions; its outcome is the run's own.
        runs = picked.groupby(["pos", "run_id"], as_index=False).agg(
            acted=("acted", "max"), back=("back", "max")
        )
        per_learner = runs.groupby("pos")["run_id"].nunique()
        interventions[per_learner.index.to_numpy()] = per_learner.to_numpy()
        with_outcome = runs[runs["back"] >= 0].sort_values(["pos", "acted", "run_id"])
        latest = with_outcome.groupby("pos").tail(1)
        outcome[latest["pos"].to_numpy(dtype=np.int64)] = latest["back"].to_numpy(dtype=np.int64)

    counts: dict[str, Any] = {
        "rows": int(len(rows)),
        "rejected": rejected,
        "rejected_rowids": [int(r) for r in rows["rowid"][~good].tolist()[:MAX_LISTED_REJECTS]],
        "not_sent": int((good & ~sent).sum()),
        "after_window": int((sent & ~in_window).sum()),
        "unknown_learner": int((in_window & (position < 0)).sum()),
        "joined": int(joined.sum()),
        "outcome_after_window": int((joined & came_back_known & ~known_by_d).sum()),
        "learners_intervened": int((interventions > 0).sum()),
        "learners_with_outcome": int((outcome >= 0).sum()),
    }
    parts = sum(rejected.values()) + counts["not_sent"] + counts["after_window"] + counts["unknown_learner"]
    if counts["rows"] != parts + counts["joined"]:
        raise RuntimeError(
            f"intervention reconciliation failed: {counts['rows']} store rows but {parts + counts['joined']} "
            f"accounted for ({counts}); this is a bug in the join, not in the store"
        )
    return interventions, outcome, counts
