"""Serving examples for active learners from the newest landing data, through the training ingestion.

The window is the ``window_days`` landing days ending at the newest landing day; ingestion runs in
its SERVING mode (no labels, every enrolled learner), with the same validation, quarantine and
pseudonymisation as training. Active learners are those enrolled on the window's last day. The
intervention context comes from the early-warning store by the same point-in-time join as training
(pass ``interventions_db``, normally ``store.store_path(warning.out_dir)``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from dropout.contract import features as F
from dropout.ingestion import ingest_span
from dropout.ingestion.adapters import newest_landing_day
from dropout.ingestion.aggregate import feature_columns, select_rows


def serving_examples(
    data_root: str | Path,
    key: bytes,
    window_days: int,
    *,
    as_of: dt.date | None = None,
    clock_skew_minutes: int = 15,
    interventions_db: str | Path | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Raw feature columns of the active learners, and the ingestion counts.

    Returns:
        ``(columns, counts)``: ``columns[key]`` is ``[n, window_days]`` float32 for per-day keys,
        ``[n]`` for context, learner pseudonyms and course ids; ``counts`` is ingestion's
        reconciliation (``interventions``: the store join's counts) plus ``window_first_day``, ``window_last_day``, ``enrolled`` and ``active_learners``.
    """

    root = Path(data_root)
    last = as_of or newest_landing_day(root / "landing")
    first = last - dt.timedelta(days=window_days - 1)
    result = ingest_span(
        root / "landing",
        root / "learners.csv",
        None,
        first_day=first,
        span=0,
        window_days=window_days,
        key=key,
        clock_skew_minutes=clock_skew_minutes,
        mode="serving",
        threads=1,
        interventions_db=interventions_db,
    )
    everyone = feature_columns(result.examples, window_days)
    keep = everyone[F.ENROLLED_MASK_KEY][:, -1] > 0.5
    columns = select_rows(everyone, keep)
    counts = dict(result.counts)
    counts.update(
        window_first_day=first.isoformat(),
        window_last_day=last.isoformat(),
        enrolled=int(len(keep)),
        active_learners=int(keep.sum()),
    )
    return columns, counts
