"""Daily aggregation: accepted events -> per learner per day features -> fixed-length sequences.

Aggregation is one GROUP BY over the accepted rows of the event table; the result is scattered into
dense ``[learners, window_days]`` arrays, so learners without a single event keep all-zero rows
(and an all-zero active mask): total inactivity is the strongest dropout signal, never padding.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from dropout.contract import features as F
from dropout.contract.features import SEQUENCE_FEATURES

from .validate import EVENTS_TABLE

# Per (learner, day) aggregates; features are derived from these below.
_DAILY_SQL = f"""
    SELECT lidx, day_idx,
        count(*) FILTER (WHERE event_type = 'login') AS logins,
        count(*) FILTER (WHERE event_type = 'video_play') AS plays,
        count(*) FILTER (WHERE event_type = 'video_complete') AS completes,
        count(*) FILTER (WHERE event_type = 'quiz_submit') AS quiz_submissions,
        count(*) FILTER (WHERE event_type = 'quiz_submit' AND correct = false) AS wrong_attempts,
        count(*) FILTER (WHERE event_type IN ('forum_post', 'forum_reply')) AS forum_posts,
        count(*) FILTER (WHERE event_type = 'resource_download') AS downloads,
        coalesce(avg(duration), 0) AS mean_dwell_seconds,
        count(*) FILTER (WHERE event_type = 'explanation_view') AS explanation_watched
    FROM {EVENTS_TABLE}
    WHERE reason IS NULL
    GROUP BY lidx, day_idx
"""


def daily_sequences(
    con: duckdb.DuckDBPyConnection, n_learners: int, window_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate accepted events per learner and landing day.

    Returns:
        ``features``: float32 ``[n_learners, window_days, len(SEQUENCE_FEATURES)]`` in
        SEQUENCE_FEATURES order, 0.0 on days without events; ``active``: float32
        ``[n_learners, window_days]``, 1.0 where the learner had at least one accepted event.
    """
    daily = con.execute(_DAILY_SQL).fetchnumpy()
    rows = np.asarray(daily["lidx"], dtype=np.int64)
    days = np.asarray(daily["day_idx"], dtype=np.int64)
    plays = np.asarray(daily["plays"], dtype=np.float64)
    completes = np.asarray(daily["completes"], dtype=np.float64)
    derived = {
        # Completions without a play that day (the play landed the day before) still cap at 1.
        "video_completion_rate": np.where(plays > 0, np.minimum(completes / np.maximum(plays, 1), 1.0), 0.0),
    }
    features = np.zeros((n_learners, window_days, len(SEQUENCE_FEATURES)), dtype=np.float32)
    for k, name in enumerate(SEQUENCE_FEATURES):
        values = derived[name] if name in derived else np.asarray(daily[name], dtype=np.float64)
        features[rows, days, k] = values
    active = np.zeros((n_learners, window_days), dtype=np.float32)
    active[rows, days] = 1.0
    return features, active


def enrolled_mask(enrolled_on: np.ndarray, first_day: np.datetime64, window_days: int) -> np.ndarray:
    """float32 ``[learners, window_days]``: 1.0 on days on or after each learner's enrolment day."""
    days = first_day.astype("datetime64[D]") + np.arange(window_days)
    return (days[None, :] >= enrolled_on.astype("datetime64[D]")[:, None]).astype(np.float32)


def list_column(matrix: np.ndarray) -> pa.Array:
    """``[rows, window_days]`` float32 -> Arrow ``list<float32>``, one list of window_days per row."""
    rows, width = matrix.shape
    offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
    values = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1), type=pa.float32())
    return pa.ListArray.from_arrays(offsets, values)


def to_list_columns(table: pa.Table) -> pa.RecordBatch:
    """Wrap every scalar column in a one-element list, as tf.Example features are lists.

    Strings become binary lists, integers int64 lists, floats float32 lists; list columns pass through.
    """
    arrays, names = [], []
    for name, column in zip(table.column_names, table.columns, strict=True):
        column = column.combine_chunks()
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            arrays.append(column)
        else:
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                column = column.cast(pa.binary())
            elif pa.types.is_integer(column.type):
                column = column.cast(pa.int64())
            elif pa.types.is_floating(column.type):
                column = column.cast(pa.float32())
            offsets = pa.array(range(len(column) + 1), type=pa.int32())
            arrays.append(pa.ListArray.from_arrays(offsets, column))
        names.append(name)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def feature_columns(examples: pa.Table, window_days: int) -> dict[str, np.ndarray]:
    """The model's raw inputs of ``examples`` (``ingest_span`` output) as numpy columns, plus identifiers.

    Per-day keys become float32 ``[n, window_days]``; numeric context float32 ``[n]``; the learner
    pseudonym and categorical context object ``[n]``. Columns the table lacks (``label`` in serving
    mode) are left out.
    """

    table = examples.to_pydict()
    n = examples.num_rows
    columns: dict[str, np.ndarray] = {}
    for name in F.sequence_keys():
        columns[name] = np.asarray(table[name], np.float32).reshape(n, window_days)
    for name in (F.LEARNER_KEY, *F.CATEGORICAL_CONTEXT):
        columns[name] = np.asarray(table[name], dtype=object)
    for name in F.NUMERIC_CONTEXT:
        columns[name] = np.asarray(table[name], np.float32)
    if F.LABEL_KEY in table:
        columns[F.LABEL_KEY] = np.asarray(table[F.LABEL_KEY], np.int64)
    return columns


def select_rows(columns: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    """The same columns restricted to the rows where ``keep`` is true (or at the given indices)."""
    return {name: values[keep] for name, values in columns.items()}


def silent(active: np.ndarray, enrolled: np.ndarray, days: int) -> np.ndarray:
    """Per learner: True when none of their last ``days`` enrolled days was active.

    The one definition of "already silent" (the early-warning list's ``activity``, its actions, the
    evaluation's lead-time metrics). ``active`` / ``enrolled``: ``[learners, window_days]`` (or one
    learner's ``[window_days]``) masks, oldest day first. A learner enrolled on fewer than ``days``
    days of the window is judged on the days there are; one enrolled on none is silent.
    """
    active = np.atleast_2d(np.asarray(active) > 0.5)
    enrolled = np.atleast_2d(np.asarray(enrolled) > 0.5)
    if days < 1:
        raise ValueError(f"silent days must be at least 1, got {days}")
    # Rank each enrolled day from the window's end: 1 = the last enrolled day.
    from_end = np.cumsum(enrolled[:, ::-1], axis=1)[:, ::-1]
    recent = enrolled & (from_end <= days)
    return ~(active & recent).any(axis=1)
