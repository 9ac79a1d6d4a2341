"""Serving examples for active learners from the newest landing data, through the training ingestion.

The window is the ``window_days`` landing days ending at the newest landing day; ingestion runs in
its SERVING mode (no labels, every enrolled learner), with the same validation, quarantine and
pseudonymisation as training. Active learners are those enrolled on the window's last day. The
intervention context comes from the early-warning store by the same point-in-time join as training
(pass ``interventions_db``, normally ``store.store_path(warning.out_dir)``).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np

from dropout import features as F

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def newest_landing_day(landing_root: str | Path) -> dt.date:
    days = [p.name for p in Path(landing_root).iterdir() if p.is_dir() and _DAY.match(p.name)] \
        if Path(landing_root).is_dir() else []
    if not days:
        raise FileNotFoundError(f"no landing day directories (YYYY-MM-DD) under {landing_root}")
    return dt.date.fromisoformat(max(days))


def serving_examples(
    data_root: str | Path, key: bytes, window_days: int, *, as_of: dt.date | None = None,
    clock_skew_minutes: int = 15, interventions_db: str | Path | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Raw feature columns of the active learners, and the ingestion counts.

    Returns:
        ``(columns, counts)``: ``columns[key]`` is ``[n, window_days]`` float32 for per-day keys,
        ``[n]`` for context, learner pseudonyms and course ids; ``counts`` is ingestion's
        reconciliation (``interventions``: the store join's counts) plus ``window_first_day``, ``window_last_day``, ``enrolled`` and ``active_learners``.
    """
    from dropout.ingest.span import ingest_span

    root = Path(data_root)
    last = as_of or newest_landing_day(root / "landing")
    first = last - dt.timedelta(days=window_days - 1)
    result = ingest_span(
        root / "landing", root / "learners.csv", None, first_day=first, span=0, window_days=window_days,
        key=key, clock_skew_minutes=clock_skew_minutes, mode="serving", threads=1,
        interventions_db=interventions_db,
    )
    table = result.examples.to_pydict()
    enrolled = np.asarray(table[F.ENROLLED_MASK_KEY], np.float32).reshape(-1, window_days)
    keep = enrolled[:, -1] > 0.5 if len(enrolled) else np.zeros(0, bool)
    columns: dict[str, np.ndarray] = {}
    for name in F.sequence_keys():
        columns[name] = np.asarray(table[name], np.float32).reshape(-1, window_days)[keep]
    for name in (F.LEARNER_KEY, *F.CATEGORICAL_CONTEXT):
        columns[name] = np.asarray(table[name], dtype=object)[keep]
    for name in F.NUMERIC_CONTEXT:
        columns[name] = np.asarray(table[name], np.float32)[keep]
    counts = dict(result.counts)
    counts.update(window_first_day=first.isoformat(), window_last_day=last.isoformat(),
                  enrolled=int(len(keep)), active_learners=int(keep.sum()))
    return columns, counts
