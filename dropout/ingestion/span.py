"""One span of ingestion: landing files -> validated event table -> per-learner examples.

``ingest_span`` is the single entry point (TFX ExampleGen calls it; tests call it directly). Span
``k`` covers landing days ``[first_day + k * window_days, first_day + (k + 1) * window_days)``.
Everything between reading and output happens in one in-memory DuckDB database that lives for the
call; no raw learner id, email, ip or device id reaches an output table.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dropout.contract.events import LEARNERS_FILE
from dropout.contract.features import (
    ACTIVE_MASK_KEY,
    CATEGORICAL_CONTEXT,
    ENROLLED_MASK_KEY,
    FAIRNESS_ATTRIBUTES,
    INTERVENTION_OUTCOME_KEY,
    INTERVENTIONS_KEY,
    LABEL_KEY,
    LEARNER_KEY,
    NUMERIC_CONTEXT,
    SCORE_KEY,
    SEQUENCE_FEATURES,
    SPAN_KEY,
)

from .adapters import ADAPTERS, LINES_TABLE, landing_files
from .aggregate import daily_sequences, enrolled_mask, list_column
from .interventions import intervention_context, load_store
from .pseudonymise import eval_split, pseudonym, pseudonymise
from .tables import read_learners, read_outcomes
from .validate import (
    EVENTS_TABLE,
    FILES_TABLE,
    LEARNERS_TABLE,
    create_event_table,
    mark_duplicates,
    name_unknown_learners,
    quarantine_query,
    reason_counts,
    validate_file,
)

MODES = ("training", "serving")
SPLIT_COLUMN = "split"
QUARANTINE_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int64()),
        ("landing_day", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)


@dataclass
class SpanResult:
    """What one span produced.

    Attributes:
        examples: one row per enrolled learner and course (see ``ingest_span``).
        quarantine: one row per rejected record (``QUARANTINE_SCHEMA``), in delivery order.
        counts: reconciliation and coverage numbers; ``input_records == accepted + quarantined``.
    """

    examples: pa.Table
    quarantine: pa.Table
    counts: dict[str, Any] = field(default_factory=dict)

    def write_reports(self, directory: str | Path) -> dict[str, Path]:
        """Write ``quarantine.parquet`` and ``counts.json`` into ``directory`` (created if missing)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"quarantine": out / "quarantine.parquet", "counts": out / "counts.json"}
        pq.write_table(self.quarantine, paths["quarantine"])
        paths["counts"].write_text(json.dumps(self.counts, indent=2, sort_keys=True) + "\n")
        return paths


def span_days(first_day: dt.date, span: int, window_days: int) -> list[dt.date]:
    """The landing days of span ``span``, oldest first."""
    start = first_day + dt.timedelta(days=span * window_days)
    return [start + dt.timedelta(days=i) for i in range(window_days)]


def _connect(threads: int | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    # rowid must equal the line index in the order the file was read.
    con.execute("SET preserve_insertion_order = true")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1 or None (all cores), got {threads}")
        con.execute(f"SET threads = {int(threads)}")
    return con


def ingest_span(
    landing_root: str | Path,
    learners_csv: str | Path,
    outcomes_csv: str | Path | None,
    *,
    first_day: dt.date,
    span: int,
    window_days: int,
    key: bytes,
    clock_skew_minutes: int = 15,
    eval_fraction: float = 0.2,
    label_column: str = "dropped_out",
    mode: str = "training",
    threads: int | None = None,
    interventions_db: str | Path | None = None,
) -> SpanResult:
    """Ingest one span of landing data into per-learner examples, a quarantine and counts.

    Args:
        landing_root: holds ``<YYYY-MM-DD>/*.jsonl|*.csv``; a missing day directory means no traffic.
        learners_csv: the learner table (required, also in serving: it defines who is enrolled).
        outcomes_csv: the outcome table; required in training mode, ignored in serving mode.
        first_day: first landing day of span 0.
        span: span number (>= 0).
        window_days: days per span and values per sequence.
        key: pseudonymisation secret (``settings.pseudonym_key``).
        clock_skew_minutes: tolerance around each landing day.
        eval_fraction: share of learners (by pseudonym) in the eval split.
        label_column: outcome column used as the label (``dropped_out`` or ``churned``).
        mode: "training" (label, final_score and split columns; learners without an outcome are
            counted as ``no_outcome`` and left out) or "serving" (every enrolled learner, no labels).
        threads: DuckDB threads; None uses every core.
        interventions_db: the early-warning store (``<warning.out_dir>/risk.sqlite``); its
            interventions are joined point in time (``dropout.ingestion.interventions``). None or a
            missing file: every learner gets 0 interventions and outcome -1.

    Returns:
        ``SpanResult``. Examples have, per learner and course enrolled on or before the span's last
        day (sorted by pseudonym, then course): LEARNER_KEY string, SPAN_KEY int64, every
        ``features.sequence_keys()`` entry as list<float32> of window_days values, categorical
        context and fairness attributes as strings (empty fairness values become "unknown"),
        numeric context (the intervention context included) as float32, and in training mode
        LABEL_KEY int64, SCORE_KEY float32 (-1 when unknown) and ``split`` ("train" / "eval").

    Raises:
        FileNotFoundError: learners_csv (or, in training mode, outcomes_csv) is missing.
        ValueError: bad arguments, a table header lacking required columns, or an unreadable
            early-warning store.
        RuntimeError: the reconciliation ``input_records == accepted + quarantined`` fails.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got '{mode}'")
    if span < 0 or window_days < 1:
        raise ValueError(
            f"span must be >= 0 and window_days >= 1, got span={span}, window_days={window_days}"
        )
    if clock_skew_minutes < 0:
        raise ValueError(f"clock_skew_minutes must be >= 0, got {clock_skew_minutes}")
    landing_root = Path(landing_root)
    learners_path = Path(learners_csv)
    if not learners_path.is_file():
        raise FileNotFoundError(
            f"learner table not found at {learners_path}; every span needs it (it defines who is enrolled). "
            f"Pass the {LEARNERS_FILE} under the data root, or run the generator to create one."
        )
    if mode == "training" and (outcomes_csv is None or not Path(outcomes_csv).is_file()):
        raise FileNotFoundError(
            f"outcome table not found at {outcomes_csv}; training mode needs labels. "
            "Pass outcomes.csv, or use mode='serving' to score without labels."
        )

    days = span_days(first_day, span, window_days)
    store_rows, store_state = load_store(interventions_db)
    learners, learner_rejects = read_learners(learners_path)
    learners["pseudonym"] = pseudonymise(learners["learner_id"], key)
    intervened, outcome, intervention_counts = intervention_context(
        store_rows, days[-1], learners["pseudonym"].to_numpy(), learners["course_id"].to_numpy()
    )
    learners[INTERVENTIONS_KEY] = intervened.astype(np.float64)
    learners[INTERVENTION_OUTCOME_KEY] = outcome.astype(np.float64)
    intervention_counts["store"] = store_state

    con = _connect(threads)
    try:
        con.register(
            "learner_frame",
            pd.DataFrame(
                {
                    "learner_id": learners["learner_id"].to_numpy(),
                    "course_id": learners["course_id"].to_numpy(),
                    "lidx": np.arange(len(learners), dtype=np.int32),
                }
            ),
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE {LEARNERS_TABLE} AS SELECT * FROM learner_frame")
        con.unregister("learner_frame")
        files, present, ignored = landing_files(landing_root, days)
        con.register(
            "file_frame",
            pd.DataFrame(
                {
                    "idx": np.array([f.index for f in files], dtype=np.int32),
                    "relative": [f.relative for f in files],
                    "day": [f.day.isoformat() for f in files],
                }
            ),
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE {FILES_TABLE} AS SELECT * FROM file_frame")
        con.unregister("file_frame")

        create_event_table(con)
        started = time.perf_counter()
        skew_us = clock_skew_minutes * 60_000_000
        epoch = dt.date(1970, 1, 1)
        input_per_file: dict[int, int] = {}
        for f in files:
            adapter = ADAPTERS[f.path.suffix]
            raw_query = adapter.load(con, f)
            # Counted on the physical lines, independently of the validation query, so that the
            # reconciliation below can catch a row lost or duplicated on the way.
            lines = con.execute(f"SELECT count(*) FROM {LINES_TABLE}").fetchone()[0]  # type: ignore[index]
            input_per_file[f.index] = max(lines - adapter.header_lines, 0)
            validate_file(
                con, f, raw_query, day_start_us=(f.day - epoch).days * 86_400_000_000, skew_us=skew_us
            )
        con.execute(f"DROP TABLE IF EXISTS {LINES_TABLE}")
        read_validate_s = time.perf_counter() - started
        mark_duplicates(con)
        duplicates_s = time.perf_counter() - started - read_validate_s
        unknown = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT raw_learner FROM {EVENTS_TABLE} WHERE raw_learner IS NOT NULL"
            ).fetchall()
        ]
        name_unknown_learners(con, {raw: pseudonym(raw, key) for raw in unknown})

        counts = _event_counts(con, days, present, ignored, input_per_file, files)
        quarantine = con.sql(quarantine_query()).arrow().read_all().cast(QUARANTINE_SCHEMA)
        aggregate_started = time.perf_counter()
        features, active = daily_sequences(con, len(learners), window_days)
        aggregate_s = time.perf_counter() - aggregate_started
        per_learner = con.execute(
            f"SELECT lidx, count(*) AS n FROM {EVENTS_TABLE} WHERE reason IS NULL GROUP BY lidx"
        ).fetchnumpy()
        accepted_per_learner = np.zeros(len(learners), dtype=np.int64)
        accepted_per_learner[np.asarray(per_learner["lidx"], dtype=np.int64)] = per_learner["n"]
    finally:
        con.close()

    enrolled_on = learners["enrolled_on"].to_numpy().astype("datetime64[D]")
    last_day = np.datetime64(days[-1].isoformat(), "D")
    enrolled = enrolled_on <= last_day
    keep = enrolled.copy()
    outcome_rejects: dict[str, int] = {}
    labels = scores = None
    no_outcome = 0
    if mode == "training":
        outcomes, outcome_rejects = read_outcomes(Path(outcomes_csv), label_column)  # type: ignore[arg-type]
        joined = learners[["learner_id", "course_id"]].merge(
            outcomes, on=["learner_id", "course_id"], how="left", validate="one_to_one"
        )
        has_outcome = joined["label"].notna().to_numpy()
        no_outcome = int((enrolled & ~has_outcome).sum())
        keep &= has_outcome
        labels = joined["label"].to_numpy()
        scores = joined["final_score"].to_numpy()

    order = np.lexsort((learners["course_id"].to_numpy()[keep], learners["pseudonym"].to_numpy()[keep]))
    rows = np.flatnonzero(keep)[order]
    examples = _examples_table(
        learners,
        rows,
        span,
        features,
        active,
        enrolled_mask(enrolled_on, np.datetime64(days[0].isoformat(), "D"), window_days),
    )
    intervention_counts["examples_intervened"] = int((intervened[rows] > 0).sum())
    intervention_counts["examples_with_outcome"] = int((outcome[rows] >= 0).sum())
    if mode == "training":
        assert labels is not None and scores is not None
        examples = examples.append_column(LABEL_KEY, pa.array(labels[rows].astype(np.int64), type=pa.int64()))
        examples = examples.append_column(
            SCORE_KEY, pa.array(scores[rows].astype(np.float32), type=pa.float32())
        )
        split = eval_split(learners["pseudonym"].to_numpy()[rows], eval_fraction)
        examples = examples.append_column(SPLIT_COLUMN, pa.array(split.tolist(), type=pa.string()))
        counts["split"] = {"train": int((split == "train").sum()), "eval": int((split == "eval").sum())}

    counts.update(
        {
            "span": span,
            "mode": mode,
            "first_landing_day": days[0].isoformat(),
            "last_landing_day": days[-1].isoformat(),
            "learners": int(len(learners)),
            "enrolled": int(enrolled.sum()),
            "not_yet_enrolled": int((~enrolled).sum()),
            "examples": int(examples.num_rows),
            "no_outcome": no_outcome,
            "learner_rows_rejected": learner_rejects,
            "outcome_rows_rejected": outcome_rejects,
            "interventions": intervention_counts,
            # Accepted events whose learner has no example (enrolled after the span, or no outcome).
            "accepted_without_example": int(accepted_per_learner[~keep].sum()),
            # Where the time went (wall seconds), for capacity planning; not part of reconciliation.
            "seconds": {
                "read_validate": round(read_validate_s, 3),
                "duplicates": round(duplicates_s, 3),
                "aggregate": round(aggregate_s, 3),
            },
        }
    )
    return SpanResult(examples=examples, quarantine=quarantine, counts=counts)


def _event_counts(
    con: duckdb.DuckDBPyConnection,
    days: list[dt.date],
    present: dict[str, bool],
    ignored: dict[str, int],
    input_per_file: dict[int, int],
    files: list,
) -> dict[str, Any]:
    by_reason = reason_counts(con)
    per_day_rows = con.execute(
        f"""SELECT day_idx, count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL)
            FROM {EVENTS_TABLE} GROUP BY day_idx"""
    ).fetchall()
    accepted = sum(r[1] for r in per_day_rows)
    quarantined = sum(r[2] for r in per_day_rows)
    input_records = sum(input_per_file.values())
    if input_records != accepted + quarantined or quarantined != sum(by_reason.values()):
        raise RuntimeError(
            f"reconciliation failed: {input_records} input records but {accepted} accepted + "
            f"{quarantined} quarantined (by reason: {by_reason}); this is a bug in ingestion, not in the data"
        )
    per_day: dict[str, dict[str, Any]] = {}
    for i, day in enumerate(days):
        key = day.isoformat()
        day_files = [f for f in files if f.day_index == i]
        per_day[key] = {
            "present": present[key],
            "files": len(day_files),
            "ignored_files": ignored.get(key, 0),
            "input_records": sum(input_per_file[f.index] for f in day_files),
            "accepted": 0,
            "quarantined": 0,
        }
    for day_idx, acc, quar in per_day_rows:
        per_day[days[day_idx].isoformat()].update(accepted=int(acc), quarantined=int(quar))
    return {
        "input_records": int(input_records),
        "accepted": int(accepted),
        "quarantined": int(quarantined),
        "by_reason": by_reason,
        "per_day": per_day,
    }


def _examples_table(
    learners: pd.DataFrame,
    rows: np.ndarray,
    span: int,
    features: np.ndarray,
    active: np.ndarray,
    enrolled: np.ndarray,
) -> pa.Table:
    columns: dict[str, pa.Array] = {
        LEARNER_KEY: pa.array(learners["pseudonym"].to_numpy()[rows].tolist(), type=pa.string()),
        SPAN_KEY: pa.array(np.full(len(rows), span, dtype=np.int64)),
    }
    for k, name in enumerate(SEQUENCE_FEATURES):
        columns[name] = list_column(features[rows, :, k])
    columns[ACTIVE_MASK_KEY] = list_column(active[rows])
    columns[ENROLLED_MASK_KEY] = list_column(enrolled[rows])
    for name in CATEGORICAL_CONTEXT:
        columns[name] = pa.array(learners[name].to_numpy()[rows].tolist(), type=pa.string())
    for name in NUMERIC_CONTEXT:
        columns[name] = pa.array(learners[name].to_numpy()[rows].astype(np.float32), type=pa.float32())
    for name in FAIRNESS_ATTRIBUTES:
        values = learners[name].replace("", "unknown").to_numpy()[rows]
        columns[name] = pa.array(values.tolist(), type=pa.string())
    return pa.table(columns)
