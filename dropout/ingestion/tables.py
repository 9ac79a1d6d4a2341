"""The learner and outcome tables: read as strings, checked row by row (vectorised), rejects counted.

A malformed row is never dropped silently: it is left out and counted under a reason, and those
counts land in the span's ``counts`` (``learner_rows_rejected`` / ``outcome_rows_rejected``).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dropout.contract.events import LEARNER_COLUMNS, OUTCOME_COLUMNS

LEARNER_REJECT_REASONS: tuple[str, ...] = (
    "malformed_row",  # wrong number of fields
    "missing_id",  # learner_id or course_id empty
    "bad_enrolled_on",  # not a YYYY-MM-DD date
    "bad_price",  # not a non-negative number (empty means 0: free plan)
    "duplicate_row",  # learner_id and course_id seen on an earlier row; the first is kept
)
OUTCOME_REJECT_REASONS: tuple[str, ...] = (
    "malformed_row",
    "missing_id",
    "missing_label",  # the label column is empty for this row
    "bad_label",  # the label is not 0 or 1
    "bad_score",  # final_score not a number in 0..100 (empty means unknown: -1)
    "duplicate_row",
)


def _read_strings(path: Path, required: tuple[str, ...], what: str) -> tuple[pd.DataFrame, int]:
    """Read a CSV with every column as a string; return the frame and the count of malformed rows."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} not found at {path}; point the span at the data root that holds it "
            f"(columns: {', '.join(required)})"
        )
    with path.open(newline="", encoding="utf-8") as fh:
        header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([fh.readline()]), [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{path}: header lacks column(s) {missing}; expected at least {list(required)}")
    malformed = 0

    def skip(_row: object) -> str:
        nonlocal malformed
        malformed += 1
        return "skip"

    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(invalid_row_handler=skip),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header}, strings_can_be_null=False
        ),
    )
    trimmed = pa.table({c: pc.utf8_trim_whitespace(table.column(c)) for c in table.column_names})
    return trimmed.to_pandas(), malformed


def _reject_counts(reasons: pd.Series, malformed: int, all_reasons: tuple[str, ...]) -> dict[str, int]:
    counted = Counter(reasons.dropna())
    counted["malformed_row"] += malformed
    return {r: int(counted.get(r, 0)) for r in all_reasons}


def read_learners(path: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """Read learners.csv.

    Returns:
        The accepted rows (``LEARNER_COLUMNS`` as strings, except ``enrolled_on``, a datetime64 day,
        and ``price``, a float) and the rejected-row counts per ``LEARNER_REJECT_REASONS``.

    Raises:
        FileNotFoundError: the file is missing (message names the path and what it should hold).
        ValueError: the header lacks learner_id, course_id or enrolled_on.
    """
    frame, malformed = _read_strings(path, ("learner_id", "course_id", "enrolled_on"), "learner table")
    for c in LEARNER_COLUMNS:
        if c not in frame.columns:
            frame[c] = ""
    enrolled = pd.to_datetime(frame["enrolled_on"], format="%Y-%m-%d", errors="coerce")
    price = pd.to_numeric(frame["price"].replace("", "0"), errors="coerce")
    reason = pd.Series(
        np.select(
            [
                (frame["learner_id"] == "") | (frame["course_id"] == ""),
                enrolled.isna(),
                ~(price >= 0) | ~np.isfinite(price.fillna(-1)),
                frame.duplicated(["learner_id", "course_id"], keep="first"),
            ],
            ["missing_id", "bad_enrolled_on", "bad_price", "duplicate_row"],
            default="",
        ),
        index=frame.index,
    ).replace("", None)
    keep = reason.isna()
    accepted = frame.loc[keep, list(LEARNER_COLUMNS)].reset_index(drop=True)
    accepted["enrolled_on"] = enrolled[keep].to_numpy().astype("datetime64[D]")
    accepted["price"] = price[keep].astype("float64").to_numpy()
    return accepted, _reject_counts(reason, malformed, LEARNER_REJECT_REASONS)


def read_outcomes(path: Path, label_column: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Read outcomes.csv.

    Returns:
        Accepted rows with ``learner_id``, ``course_id``, ``label`` (int 0/1) and ``final_score``
        (float, -1 when empty), and rejected-row counts per ``OUTCOME_REJECT_REASONS``.
    """
    if label_column not in OUTCOME_COLUMNS[2:]:
        raise ValueError(
            f"label_column '{label_column}' is not an outcome column; use one of {OUTCOME_COLUMNS[2:]}"
        )
    frame, malformed = _read_strings(path, ("learner_id", "course_id", label_column), "outcome table")
    if "final_score" not in frame.columns:
        frame["final_score"] = ""
    label = frame[label_column]
    score = pd.to_numeric(frame["final_score"].replace("", "-1"), errors="coerce")
    bad_score = ~(((score >= 0) & (score <= 100)) | (score == -1))
    reason = pd.Series(
        np.select(
            [
                (frame["learner_id"] == "") | (frame["course_id"] == ""),
                label == "",
                ~label.isin(["0", "1"]),
                bad_score,
                frame.duplicated(["learner_id", "course_id"], keep="first"),
            ],
            ["missing_id", "missing_label", "bad_label", "bad_score", "duplicate_row"],
            default="",
        ),
        index=frame.index,
    ).replace("", None)
    keep = reason.isna()
    accepted = pd.DataFrame(
        {
            "learner_id": frame.loc[keep, "learner_id"].to_numpy(),
            "course_id": frame.loc[keep, "course_id"].to_numpy(),
            "label": label[keep].astype("int64").to_numpy(),
            "final_score": score[keep].astype("float64").to_numpy(),
        }
    )
    return accepted, _reject_counts(reason, malformed, OUTCOME_REJECT_REASONS)
