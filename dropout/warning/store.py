"""Risk lists and interventions: one SQLite database (``risk.sqlite``) and one CSV per run.

Tables (learners appear only as pseudonyms; contact details never enter this database):

- ``risk_list``: run_id, scored_at, model_version, learner, course_id, risk, rank, band, reason.
- ``interventions``: run_id, learner, course_id, band, action, status (sent | failed | skipped |
  held), detail, acted_at, outcome_due (date), came_back (NULL until checked, then 0/1), outcome_checked_at.
- ``runs``: one row per run: window, champion version and path, counts, the skew check's result and
  report, and the decision on interventions (acted | held), by whom, when and why.

Closing the loop: ingestion (training and serving alike) joins ``interventions`` on the pseudonym
(the same keyed HMAC), point in time: ``dropout.ingest.interventions``; ``intervention_features``
gives the same values from an open connection.
"""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS risk_list (
    run_id TEXT NOT NULL, scored_at TEXT NOT NULL, model_version INTEGER NOT NULL,
    learner TEXT NOT NULL, course_id TEXT NOT NULL, risk REAL NOT NULL, rank INTEGER NOT NULL,
    band TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (run_id, learner, course_id));
CREATE TABLE IF NOT EXISTS interventions (
    run_id TEXT NOT NULL, learner TEXT NOT NULL, course_id TEXT NOT NULL, band TEXT NOT NULL,
    action TEXT NOT NULL, status TEXT NOT NULL, detail TEXT NOT NULL, acted_at TEXT NOT NULL,
    outcome_due TEXT NOT NULL, came_back INTEGER, outcome_checked_at TEXT,
    PRIMARY KEY (run_id, learner, course_id, action));
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, scored_at TEXT NOT NULL, window_first_day TEXT NOT NULL,
    window_last_day TEXT NOT NULL, model_version INTEGER NOT NULL, model_path TEXT NOT NULL,
    active_learners INTEGER NOT NULL, flagged INTEGER NOT NULL, serving_statistics TEXT NOT NULL,
    skew INTEGER, skew_features TEXT, skew_report TEXT, skew_checked_at TEXT,
    decision TEXT, decided_by TEXT, decided_at TEXT, decision_reason TEXT);
"""
CSV_COLUMNS = ("learner", "course_id", "risk", "rank", "band", "reason")
STORE_FILE = "risk.sqlite"


def store_path(out_dir: str | Path) -> Path:
    """The store under ``warning.out_dir`` (the early-warning job writes it, ingestion reads it)."""
    return Path(out_dir) / STORE_FILE


def connect(path: str | Path) -> sqlite3.Connection:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path))
    con.executescript(SCHEMA)
    return con


def write_risk_list(con: sqlite3.Connection, csv_path: Path, run_id: str, scored_at: str, model_version: int,
                    rows: list[dict[str, Any]]) -> None:
    """Replace the run's risk list (re-running a run is idempotent) and write its CSV, ranked."""
    rows = sorted(rows, key=lambda r: r["rank"])
    with con:
        con.execute("DELETE FROM risk_list WHERE run_id = ?", (run_id,))
        con.executemany(
            "INSERT INTO risk_list VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, scored_at, model_version, r["learner"], r["course_id"], float(r["risk"]), int(r["rank"]),
              r["band"], r["reason"]) for r in rows],
        )
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{r[k]:.6f}" if k == "risk" else r[k]) for k in CSV_COLUMNS})


def record_intervention(con: sqlite3.Connection, **values: Any) -> None:
    with con:
        con.execute(
            "INSERT OR REPLACE INTO interventions (run_id, learner, course_id, band, action, status, detail, "
            "acted_at, outcome_due) VALUES (:run_id, :learner, :course_id, :band, :action, :status, :detail, "
            ":acted_at, :outcome_due)",
            values,
        )


RUN_COLUMNS = ("run_id", "scored_at", "window_first_day", "window_last_day", "model_version", "model_path",
               "active_learners", "flagged", "serving_statistics", "skew", "skew_features", "skew_report",
               "skew_checked_at", "decision", "decided_by", "decided_at", "decision_reason")


def record_run(con: sqlite3.Connection, **values: Any) -> None:
    """A scored run (re-scoring a run id starts it over: its skew result and decision are cleared)."""
    with con:
        con.execute(
            "INSERT OR REPLACE INTO runs (run_id, scored_at, window_first_day, window_last_day, model_version, "
            "model_path, active_learners, flagged, serving_statistics) VALUES (:run_id, :scored_at, "
            ":window_first_day, :window_last_day, :model_version, :model_path, :active_learners, :flagged, "
            ":serving_statistics)", values)


def get_run(con: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    row = con.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise LookupError(f"early-warning run {run_id!r} has not been scored (no row in runs); run `score` first")
    return dict(zip(RUN_COLUMNS, row, strict=True))


def update_run(con: sqlite3.Connection, run_id: str, **values: Any) -> None:
    unknown = set(values) - set(RUN_COLUMNS)
    if unknown:
        raise KeyError(f"unknown run columns {sorted(unknown)}")
    with con:
        con.execute(f"UPDATE runs SET {', '.join(f'{k} = :{k}' for k in values)} WHERE run_id = :run_id",
                    {**values, "run_id": run_id})


def flagged_rows(con: sqlite3.Connection, run_id: str) -> list[dict[str, Any]]:
    """The run's flagged learners (band high or top), by rank."""
    rows = con.execute("SELECT learner, course_id, risk, rank, band, reason FROM risk_list "
                       "WHERE run_id = ? AND band != '' ORDER BY rank", (run_id,)).fetchall()
    return [dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows]


def intervention_statuses(con: sqlite3.Connection, run_id: str) -> dict[tuple[str, str, str], str]:
    """(learner, course, action) -> status of the run's recorded interventions."""
    rows = con.execute("SELECT learner, course_id, action, status FROM interventions WHERE run_id = ?", (run_id,))
    return {(lr, c, a): s for lr, c, a, s in rows}


def due_outcomes(con: sqlite3.Connection, today: str) -> list[tuple[str, str, str, str]]:
    """(run_id, learner, course_id, acted_at) of sent interventions whose outcome is due and unchecked."""
    return con.execute(
        "SELECT DISTINCT run_id, learner, course_id, acted_at FROM interventions "
        "WHERE status = 'sent' AND came_back IS NULL AND outcome_due <= ?", (today,)
    ).fetchall()


def set_outcome(con: sqlite3.Connection, run_id: str, learner: str, course_id: str, came_back: bool,
                checked_at: str) -> None:
    with con:
        con.execute(
            "UPDATE interventions SET came_back = ?, outcome_checked_at = ? "
            "WHERE run_id = ? AND learner = ? AND course_id = ? AND status = 'sent'",
            (int(came_back), checked_at, run_id, learner, course_id),
        )


def intervention_features(con: sqlite3.Connection, as_of: dt.date) -> dict[tuple[str, str], dict[str, int]]:
    """Per intervened (learner, course), what was known by the end of ``as_of``: interventions sent and
    the latest known outcome (-1 unknown), exactly as ingestion joins them (``dropout.ingest.interventions``)."""
    from dropout.ingest.interventions import intervention_context, read_rows

    rows = read_rows(con)
    keys = sorted({(str(lr), str(c)) for lr, c in zip(rows["learner"], rows["course_id"], strict=True)})
    sent, outcome, _ = intervention_context(
        rows, as_of, np.array([k[0] for k in keys], dtype=object), np.array([k[1] for k in keys], dtype=object)
    )
    return {k: {"interventions": int(n), "intervention_outcome": int(o)}
            for k, n, o in zip(keys, sent, outcome, strict=True) if n > 0}
