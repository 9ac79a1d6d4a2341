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
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb

from dropout.contract.events import EVENT_FIELDS, PERSONAL_FIELDS

# Raw event fields the core needs: the contract's fields less the personal data it must never read
# (the learner id is read only to be pseudonymised) and the client version.
_NOT_READ = tuple(f for f in PERSONAL_FIELDS if f != "learner_id") + ("app_version",)
RAW_FIELDS: tuple[str, ...] = tuple(name for name in EVENT_FIELDS if name not in _NOT_READ)
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
    """Materialise the file's physical lines, in order, into LINES_TABLE (rowid = line index).

    Columns: ``text`` and ``bad_utf8``. A file that is not valid UTF-8 is decoded with replacement
    characters into a temporary copy (same lines, same numbering) and the lines that needed a
    replacement are flagged, so one bad byte quarantines one record, not the whole file.
    """

    def read(source: Path, flag: str) -> None:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {LINES_TABLE} AS
            SELECT text, {flag} AS bad_utf8
            FROM read_csv({_sql_str(str(source))}, columns={{'text': 'VARCHAR'}}, header=false,
                delim='{_NEVER_DELIM}', quote='', escape='', auto_detect=false, strict_mode=false,
                max_line_size={_MAX_LINE_BYTES})
            """
        )

    try:
        read(path, "false")
    except duckdb.InvalidInputException as exc:
        if "unicode" not in str(exc).lower():
            raise
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / path.name
            copy.write_text(path.read_bytes().decode("utf-8", errors="replace"), encoding="utf-8")
            read(copy, "contains(text, chr(65533))")


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
                CASE WHEN bad_utf8 THEN 'not valid UTF-8'
                     WHEN v IS NULL THEN
                        CASE WHEN text IS NULL OR trim(text) = '' THEN 'empty line' ELSE 'not valid JSON' END
                     WHEN left(text, 1) = '{{' THEN NULL
                     WHEN starts_with(ltrim(text), '{{') THEN NULL
                     ELSE 'not a JSON object'
                END AS problem,
                {fields}
            FROM (
                SELECT rowid + 1 AS line, text, bad_utf8, TRY(json_extract_string(text, {paths})) AS v
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
                CASE WHEN bad_utf8 THEN 'not valid UTF-8'
                     WHEN len(v) = {ncols} THEN NULL
                     WHEN text IS NULL OR trim(text) = '' THEN 'empty line'
                     WHEN len(v) <> {ncols} THEN 'expected {ncols} fields as in the header, found ' || len(v)
                END AS problem,
                {fields}
            FROM (
                SELECT rowid + 1 AS line, text, bad_utf8,
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


_DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ADAPTERS: dict[str, Adapter] = {a.suffix: a for a in (JsonLinesAdapter(), CsvAdapter())}


def landing_files(
    landing_root: Path, days: list[dt.date]
) -> tuple[list[LandingFile], dict[str, bool], dict[str, int]]:
    """List the landing files of ``days`` in processing order.

    Returns:
        The files (day, then file name); per day (ISO string) whether its directory exists (a
        missing day directory is not an error: no traffic, everyone inactive); and per day the
        number of files no adapter reads (reported, so a mis-named upload does not vanish).

    Raises:
        FileNotFoundError: ``landing_root`` itself is missing (a wrong path, not a quiet day).
    """
    if not landing_root.is_dir():
        raise FileNotFoundError(
            f"landing root {landing_root} does not exist; point ingestion at the folder holding the "
            "<YYYY-MM-DD>/ day directories (a day without traffic may lack its directory, the root may not)"
        )
    files: list[LandingFile] = []
    present: dict[str, bool] = {}
    ignored: dict[str, int] = {}
    for day_index, day in enumerate(days):
        day_dir = landing_root / day.isoformat()
        present[day.isoformat()] = day_dir.is_dir()
        if not day_dir.is_dir():
            continue
        entries = [p for p in day_dir.iterdir() if p.is_file()]
        ignored[day.isoformat()] = sum(p.suffix not in ADAPTERS for p in entries)
        for path in sorted(p for p in entries if p.suffix in ADAPTERS):
            files.append(
                LandingFile(
                    index=len(files),
                    path=path,
                    relative=path.relative_to(landing_root).as_posix(),
                    day=day,
                    day_index=day_index,
                )
            )
    return files, present, ignored


def landed_days(landing_root: str | Path) -> list[dt.date]:
    """The days that have a ``YYYY-MM-DD`` directory under ``landing_root``, oldest first (none when missing)."""
    root = Path(landing_root)
    if not root.is_dir():
        return []
    days = []
    for child in root.iterdir():
        if child.is_dir() and _DAY_DIR.match(child.name):
            try:
                days.append(dt.date.fromisoformat(child.name))
            except ValueError:
                continue  # 2026-13-01: not a day
    return sorted(days)


def newest_landing_day(landing_root: str | Path) -> dt.date:
    """The newest landed day.

    Raises:
        FileNotFoundError: no day directory under ``landing_root``.
    """
    days = landed_days(landing_root)
    if not days:
        raise FileNotFoundError(f"no landing day directories (YYYY-MM-DD) under {landing_root}")
    return days[-1]
