"""The early-warning store: risk lists, interventions and their outcomes (``risk.sqlite``), a CSV per run.

Tables (learners appear only as pseudonyms; contact details never enter this database):

- ``risk_list``: run_id, scored_at, model_version, learner, course_id, risk, rank, band, reason,
  activity_state (``active`` or ``silent``: ``dropout.warning.lead_time``; empty in rows of older stores).
- ``interventions``: run_id, learner, course_id, band, action, status (``INTERVENTION_STATUSES``),
  detail, acted_at, outcome_due (date), came_back (NULL until checked, then 0/1), outcome_checked_at.
- ``runs``: one row per run: window, champion version and path, counts, the skew check's result and
  report, and the decision on interventions (acted | held), by whom, when and why.

The early-warning job (``dropout.warning``) writes it; ingestion reads the interventions back, point in
time (``dropout.ingestion.interventions``), so every retrain closes the loop. This module is the one
definition of the tables, their columns and the intervention statuses.
"""

from __future__ import annotations

import csv
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

STORE_FILE = "risk.sqlite"

# What happened to one planned action. Only SENT reaches a learner, so only SENT counts as an
# intervention when ingestion joins the store into examples.
SENT = "sent"
FAILED = "failed"  # the channel refused it (SMTP or webhook error)
SKIPPED = "skipped"  # nothing to send with (no address, channel not configured)
HELD = "held"  # a steward held the run's interventions (skew review), or nobody answered in time
INTERVENTION_STATUSES: tuple[str, ...] = (SENT, FAILED, SKIPPED, HELD)

INTERVENTIONS_TABLE = "interventions"
INTERVENTION_COLUMNS: dict[str, str] = {  # name -> SQLite declaration
    "run_id": "TEXT NOT NULL",
    "learner": "TEXT NOT NULL",
    "course_id": "TEXT NOT NULL",
    "band": "TEXT NOT NULL",
    "action": "TEXT NOT NULL",
    "status": "TEXT NOT NULL",
    "detail": "TEXT NOT NULL",
    "acted_at": "TEXT NOT NULL",
    "outcome_due": "TEXT NOT NULL",
    "came_back": "INTEGER",
    "outcome_checked_at": "TEXT",
}

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS risk_list (
    run_id TEXT NOT NULL, scored_at TEXT NOT NULL, model_version INTEGER NOT NULL,
    learner TEXT NOT NULL, course_id TEXT NOT NULL, risk REAL NOT NULL, rank INTEGER NOT NULL,
    band TEXT NOT NULL, reason TEXT NOT NULL, activity_state TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, learner, course_id));
CREATE TABLE IF NOT EXISTS {INTERVENTIONS_TABLE} (
    {", ".join(f"{name} {decl}" for name, decl in INTERVENTION_COLUMNS.items())},
    PRIMARY KEY (run_id, learner, course_id, action));
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, scored_at TEXT NOT NULL, window_first_day TEXT NOT NULL,
    window_last_day TEXT NOT NULL, model_version INTEGER NOT NULL, model_path TEXT NOT NULL,
    active_learners INTEGER NOT NULL, flagged INTEGER NOT NULL, serving_statistics TEXT NOT NULL,
    skew INTEGER, skew_features TEXT, skew_report TEXT, skew_checked_at TEXT,
    decision TEXT, decided_by TEXT, decided_at TEXT, decision_reason TEXT);
"""
CSV_COLUMNS = ("learner", "course_id", "risk", "rank", "band", "reason", "activity_state")


def store_path(out_dir: str | Path) -> Path:
    """The store under ``warning.out_dir`` (the early-warning job writes it, ingestion reads it)."""
    return Path(out_dir) / STORE_FILE


def connect(path: str | Path) -> sqlite3.Connection:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path))
    con.executescript(SCHEMA)
    # Stores written before the risk list had an activity_state column gain it (older rows read as '').
    if "activity_state" not in {r[1] for r in con.execute("PRAGMA table_info(risk_list)")}:
        with con:
            con.execute("ALTER TABLE risk_list ADD COLUMN activity_state TEXT NOT NULL DEFAULT ''")
    return con


def write_risk_list(
    con: sqlite3.Connection,
    csv_path: Path,
    run_id: str,
    scored_at: str,
    model_version: int,
    rows: list[dict[str, Any]],
) -> None:
    """Replace the run's risk list (re-running a run is idempotent) and write its CSV, ranked."""
    rows = sorted(rows, key=lambda r: r["rank"])
    with con:
        con.execute("DELETE FROM risk_list WHERE run_id = ?", (run_id,))
        con.executemany(
            f"INSERT INTO risk_list (run_id, scored_at, model_version, {', '.join(CSV_COLUMNS)}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    run_id,
                    scored_at,
                    model_version,
                    r["learner"],
                    r["course_id"],
                    float(r["risk"]),
                    int(r["rank"]),
                    r["band"],
                    r["reason"],
                    r.get("activity_state", ""),
                )
                for r in rows
            ],
        )
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{r[k]:.6f}" if k == "risk" else r.get(k, "")) for k in CSV_COLUMNS})


# What the job writes when it acts; the outcome columns are filled in later by ``set_outcome``.
_WRITTEN = tuple(c for c in INTERVENTION_COLUMNS if c not in ("came_back", "outcome_checked_at"))


def record_intervention(con: sqlite3.Connection, **values: Any) -> None:
    with con:
        con.execute(
            f"INSERT OR REPLACE INTO {INTERVENTIONS_TABLE} ({', '.join(_WRITTEN)}) "
            f"VALUES ({', '.join(':' + c for c in _WRITTEN)})",
            values,
        )


RUN_COLUMNS = (
    "run_id",
    "scored_at",
    "window_first_day",
    "window_last_day",
    "model_version",
    "model_path",
    "active_learners",
    "flagged",
    "serving_statistics",
    "skew",
    "skew_features",
    "skew_report",
    "skew_checked_at",
    "decision",
    "decided_by",
    "decided_at",
    "decision_reason",
)


def record_run(con: sqlite3.Connection, **values: Any) -> None:
    """A scored run (re-scoring a run id starts it over: its skew result and decision are cleared)."""
    with con:
        con.execute(
            "INSERT OR REPLACE INTO runs (run_id, scored_at, window_first_day, window_last_day, model_version, "
            "model_path, active_learners, flagged, serving_statistics) VALUES (:run_id, :scored_at, "
            ":window_first_day, :window_last_day, :model_version, :model_path, :active_learners, :flagged, "
            ":serving_statistics)",
            values,
        )


def get_run(con: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    row = con.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise LookupError(
            f"early-warning run {run_id!r} has not been scored (no row in runs); run `score` first"
        )
    return dict(zip(RUN_COLUMNS, row, strict=True))


def update_run(con: sqlite3.Connection, run_id: str, **values: Any) -> None:
    unknown = set(values) - set(RUN_COLUMNS)
    if unknown:
        raise KeyError(f"unknown run columns {sorted(unknown)}")
    with con:
        con.execute(
            f"UPDATE runs SET {', '.join(f'{k} = :{k}' for k in values)} WHERE run_id = :run_id",
            {**values, "run_id": run_id},
        )


def flagged_rows(con: sqlite3.Connection, run_id: str) -> list[dict[str, Any]]:
    """The run's flagged learners (band high or top), by rank."""
    rows = con.execute(
        f"SELECT {', '.join(CSV_COLUMNS)} FROM risk_list WHERE run_id = ? AND band != '' ORDER BY rank",
        (run_id,),
    ).fetchall()
    return [dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows]


def intervention_statuses(con: sqlite3.Connection, run_id: str) -> dict[tuple[str, str, str], str]:
    """(learner, course, action) -> status of the run's recorded interventions."""
    rows = con.execute(
        "SELECT learner, course_id, action, status FROM interventions WHERE run_id = ?", (run_id,)
    )
    return {(lr, c, a): s for lr, c, a, s in rows}


def due_outcomes(con: sqlite3.Connection, today: str) -> list[tuple[str, str, str, str]]:
    """(run_id, learner, course_id, acted_at) of sent interventions whose outcome is due and unchecked."""
    return con.execute(
        "SELECT DISTINCT run_id, learner, course_id, acted_at FROM interventions "
        "WHERE status = ? AND came_back IS NULL AND outcome_due <= ?",
        (SENT, today),
    ).fetchall()


def set_outcome(
    con: sqlite3.Connection, run_id: str, learner: str, course_id: str, came_back: bool, checked_at: str
) -> None:
    with con:
        con.execute(
            "UPDATE interventions SET came_back = ?, outcome_checked_at = ? "
            "WHERE run_id = ? AND learner = ? AND course_id = ? AND status = ?",
            (int(came_back), checked_at, run_id, learner, course_id, SENT),
        )


def read_interventions(con: sqlite3.Connection) -> pd.DataFrame:
    """Every row of the interventions table, values as SQLite returned them, plus ``rowid``.

    An absent table reads as no rows (the store exists but no run has acted yet).
    """
    names = ("rowid", *INTERVENTION_COLUMNS)
    has_table = con.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (INTERVENTIONS_TABLE,)
    ).fetchone()[0]
    if not has_table:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in names})
    present = {r[1] for r in con.execute(f"PRAGMA table_info({INTERVENTIONS_TABLE})")}
    missing = [c for c in INTERVENTION_COLUMNS if c not in present]
    if missing:
        raise sqlite3.DatabaseError(f"table {INTERVENTIONS_TABLE} lacks the columns {missing}")
    rows = con.execute(f"SELECT {', '.join(names)} FROM {INTERVENTIONS_TABLE} ORDER BY rowid").fetchall()
    # Column by column as Python objects: pandas would turn an INTEGER column with NULLs into floats.
    return pd.DataFrame({c: pd.Series([r[i] for r in rows], dtype=object) for i, c in enumerate(names)})


def read_interventions_at(path: str | Path | None) -> tuple[pd.DataFrame, str]:
    """The interventions of the store at ``path``, opened read-only (readers never create or change it).

    Returns:
        ``(rows, state)``; state is "none" (no path given), "missing" (no file: no interventions yet)
        or "read".

    Raises:
        ValueError: the file exists but is not a readable SQLite database with an interventions table
            of the expected columns.
    """
    if path is None or str(path) == "":
        return read_interventions(sqlite3.connect(":memory:")), "none"
    store = Path(path)
    if not store.is_file():
        log.info("no early-warning store at %s: every learner gets 0 interventions, outcome -1", store)
        return read_interventions(sqlite3.connect(":memory:")), "missing"
    try:
        con = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return read_interventions(con), "read"
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise ValueError(
            f"early-warning store {store}: cannot read table '{INTERVENTIONS_TABLE}' with columns "
            f"{list(INTERVENTION_COLUMNS)} ({exc}); point [warning] out_dir at the directory the early-warning "
            "job writes risk.sqlite to, or move the damaged file away to train without interventions"
        ) from exc
