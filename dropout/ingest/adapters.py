"""Source adapters: turn one landing file into raw event fields, as strings, with exact line numbers.

An adapter knows one file format and nothing about validation. It reads a file into DuckDB and
returns a SQL query yielding one row per input record with the columns of ``RAW_COLUMNS``:

    line     BIGINT   1-based physical line in the file (a CSV header is line 1)
    problem  VARCHAR  why the record could not be read at all (``invalid_record``), else NULL
    <field>  VARCHAR  one column per ``RAW_FIELDS`` entry, the raw value or NULL when absent

Every physical line except a CSV header is a record, blank lines included, so input counts
reconcile with ``wc -l``. Personal fields other than ``learner_id`` (email, ip, device_id) are never
extracted: what is not read cannot leak. New sources (OULAD, Open edX tracking logs, xAPI
statements) are new adapters registered in ``ADAPTERS``; validation and aggregation do not change.

Lines are read with DuckDB's CSV reader as a single column (a delimiter that never appears, no
quoting), materialised in file order (``preserve_insertion_order``) so that ``rowid`` is the line
index, then parsed with vectorised SQL. No Python code runs per record.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb

# Raw event fields the core needs. email / ip / device_id / app_version are deliberately absent.
RAW_FIELDS: tuple[str, ...] = (
    "event_id",
    "learner_id",
    "course_id",
    "ts",
    "event_type",
    "duration_s",
    "correct",
    "attempt",
    "amount",
)
RAW_COLUMNS: tuple[str, ...] = ("line", "problem", *RAW_FIELDS)

LINES_TABLE = "landing_lines"
# Unit separator: never present in JSON text or in our CSV; a line that holds one is cut there and
# then fails to parse, so it is quarantined rather than misread.
_NEVER_DELIM = "\\x1f"
_MAX_LINE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class LandingFile:
    """One file of the landing zone, in processing order (day, then file name)."""

    index: int  # position in processing order; orders duplicate deliveries across files
    path: Path
    relative: str  # path relative to landing_root, as quarantine rows cite it
    day: dt.date
    day_index: int  # landing day relative to the first day of the span


class Adapter(Protocol):
    """Reads one landing file into DuckDB and returns a query with ``RAW_COLUMNS``."""

    suffix: str
    header_lines: int  # physical lines at the top of a file that are not records

    def load(self, con: duckdb.DuckDBPyConnection, file: LandingFile) -> str: ...


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _load_lines(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Materialise the file's physical lines, in order, into LINES_TABLE (rowid = line index)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {LINES_TABLE} AS
        SELECT text FROM read_csv({_sql_str(str(path))}, columns={{'text': 'VARCHAR'}}, header=false,
            delim='{_NEVER_DELIM}', quote='', escape='', auto_detect=false, strict_mode=false,
            max_line_size={_MAX_LINE_BYTES})
        """
    )


class JsonLinesAdapter:
    """``*.jsonl``: one JSON object per line. Values of any JSON type are read as their text."""

    suffix = ".jsonl"
    header_lines = 0

    def load(self, con: duckdb.DuckDBPyConnection, file: LandingFile) -> str:
        _load_lines(con, file.path)
        paths = "[" + ", ".join(_sql_str(f"$.{f}") for f in RAW_FIELDS) + "]"
        fields = ",\n".join(f"v[{i + 1}] AS {f}" for i, f in enumerate(RAW_FIELDS))
        # One JSON parse per line: TRY() turns a parse error into NULL. A valid document that does not
        # start with '{' is an array or a scalar, not a record. CASE evaluates a branch only for the
        # rows still undecided, so the costly ltrim/trim run on bad lines only.
        return f"""
            SELECT line,
                CASE WHEN v IS NULL THEN
                        CASE WHEN text IS NULL OR trim(text) = '' THEN 'empty line' ELSE 'not valid JSON' END
                     WHEN left(text, 1) = '{{' THEN NULL
                     WHEN starts_with(ltrim(text), '{{') THEN NULL
                     ELSE 'not a JSON object'
                END AS problem,
                {fields}
            FROM (
                SELECT rowid + 1 AS line, text, TRY(json_extract_string(text, {paths})) AS v
                FROM {LINES_TABLE}
            )
        """


class CsvAdapter:
    """``*.csv``: a header row naming the fields (any order, extra columns ignored), then one row per line.

    Rows without quotes are split on commas; rows with quotes go through an RFC 4180 regular
    expression (slower, so only those rows pay for it). A row with a different number of fields than
    the header is not a record. Values spanning several lines are not supported (each physical line
    is one record), which keeps line numbers exact.
    """

    suffix = ".csv"
    header_lines = 1

    def load(self, con: duckdb.DuckDBPyConnection, file: LandingFile) -> str:
        header = _read_header(file.path)
        _load_lines(con, file.path)
        ncols = len(header)
        fields = ",\n".join(
            (f"v[{header.index(f) + 1}] AS {f}" if f in header else f"NULL::VARCHAR AS {f}")
            for f in RAW_FIELDS
        )
        quoted = (
            'list_transform(regexp_extract_all(\',\' || text, \',("(?:[^"]|"")*"|[^,]*)\', 1), '
            "lambda x: CASE WHEN starts_with(x, '\"') THEN replace(substr(x, 2, length(x) - 2), '\"\"', '\"') ELSE x END)"
        )
        return f"""
            SELECT line,
                CASE WHEN len(v) = {ncols} THEN NULL
                     WHEN text IS NULL OR trim(text) = '' THEN 'empty line'
                     WHEN len(v) <> {ncols} THEN 'expected {ncols} fields as in the header, found ' || len(v)
                END AS problem,
                {fields}
            FROM (
                SELECT rowid + 1 AS line, text,
                    CASE WHEN contains(text, '"') THEN {quoted} ELSE string_split(text, ',') END AS v
                FROM {LINES_TABLE}
                WHERE rowid > 0
            )
        """


def _read_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
    row = next(csv.reader([first]), [])
    return [name.strip().lstrip("\ufeff") for name in row]


ADAPTERS: dict[str, Adapter] = {a.suffix: a for a in (JsonLinesAdapter(), CsvAdapter())}


def landing_files(landing_root: Path, days: list[dt.date]) -> tuple[list[LandingFile], dict[str, bool]]:
    """List the landing files of ``days`` in processing order.

    Returns:
        The files (day, then file name) and, per day (ISO string), whether its directory exists.
        A missing day directory is not an error: that day had no traffic, so everyone is inactive.
    """
    files: list[LandingFile] = []
    present: dict[str, bool] = {}
    for day_index, day in enumerate(days):
        day_dir = landing_root / day.isoformat()
        present[day.isoformat()] = day_dir.is_dir()
        if not day_dir.is_dir():
            continue
        for path in sorted(p for p in day_dir.iterdir() if p.is_file() and p.suffix in ADAPTERS):
            files.append(
                LandingFile(
                    index=len(files),
                    path=path,
                    relative=path.relative_to(landing_root).as_posix(),
                    day=day,
                    day_index=day_index,
                )
            )
    return files, present
