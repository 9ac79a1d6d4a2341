"""Vectorised validation of raw event fields into the one internal event table.

Each landing file's raw rows (``adapters.RAW_COLUMNS``) are checked in one SQL statement and
appended to ``EVENTS_TABLE``: accepted rows with ``reason`` NULL, rejected rows with exactly one
reason from ``QUARANTINE_REASONS`` (the first failing check, in that tuple's order) and a readable
detail. Duplicates need the whole span, so ``mark_duplicates`` runs once after every file is in.

Rules worth knowing:

* ``ts`` is ISO-8601 with a date and a time (``T`` or space), any UTC offset or none (then UTC);
  it is normalised to UTC. It must fall in ``[day start - skew, day end + skew]`` (both edges
  included) of its landing day; a tolerated early or late event still counts for its landing day.
* A field is missing when absent, JSON null or the empty string. Values are not trimmed (trimming
  every field cost more than the JSON parse): " 12" fails a numeric check, " x" is an unknown type.
* ``duration_s`` and ``amount``, when present, must be finite numbers >= 0; ``attempt`` a whole
  number >= 1; ``correct`` true or false (any case).
* A duplicate is a record that passed every other check and whose ``event_id`` was accepted
  earlier in the span (day, then file name, then line). A broken first delivery followed by a good
  re-delivery therefore keeps the re-delivery.
* Details never echo learner ids: a value is shown only when it contains neither the record's
  learner id nor an ``@``, and is cut to 40 characters.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from dropout.contract.events import EVENT_TYPES, QUARANTINE_REASONS, REQUIRED_EVENT_FIELDS

from .adapters import LandingFile

EVENTS_TABLE = "events"
LEARNERS_TABLE = "learner_index"  # learner_id, course_id, lidx (row of the accepted learner table)
FILES_TABLE = "landing_file_index"  # idx, relative, day

US_PER_DAY = 86_400_000_000
_TYPES_SQL = "(" + ", ".join(f"'{t}'" for t in EVENT_TYPES) + ")"


def create_event_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the internal event table and the helper macro that keeps details free of ids."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {EVENTS_TABLE} (
            file_idx INTEGER,     -- LandingFile.index
            line BIGINT,          -- 1-based line in that file
            day_idx INTEGER,      -- landing day within the span
            event_id VARCHAR,
            lidx INTEGER,         -- accepted learner row; NULL for unknown learners
            event_type VARCHAR,
            duration DOUBLE,      -- accepted rows only
            correct BOOLEAN,      -- accepted rows only
            reason VARCHAR,       -- NULL: accepted
            detail VARCHAR,       -- without the 'file line n: ' prefix
            raw_learner VARCHAR   -- unknown_learner rows only, replaced by a pseudonym before output
        )
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP MACRO shown(v, lid) AS
            CASE WHEN v IS NULL THEN 'null'
                 WHEN contains(v, '@') OR (lid IS NOT NULL AND contains(v, lid)) THEN '<redacted>'
                 WHEN length(v) > 40 THEN '''' || left(v, 40) || '...'''
                 ELSE '''' || v || ''''
            END
        """
    )


def validate_file(
    con: duckdb.DuckDBPyConnection, file: LandingFile, raw_query: str, *, day_start_us: int, skew_us: int
) -> None:
    """Check one file's raw rows and append them, accepted or not, to the event table."""
    lo = day_start_us - skew_us
    hi = day_start_us + US_PER_DAY + skew_us
    req = [f"{f} IS NULL" for f in REQUIRED_EVENT_FIELDS]
    first_missing = " ".join(f"WHEN {f} IS NULL THEN '{f}'" for f in REQUIRED_EVENT_FIELDS)
    bad_duration = "(duration_s IS NOT NULL AND NOT coalesce(dur >= 0 AND isfinite(dur), false))"
    bad_amount = "(amount IS NOT NULL AND NOT coalesce(amt >= 0 AND isfinite(amt), false))"
    bad_attempt = (
        "(attempt IS NOT NULL AND NOT coalesce(att >= 1 AND isfinite(att) AND att = floor(att), false))"
    )
    bad_correct = "(correct IS NOT NULL AND lc NOT IN ('true', 'false'))"
    window = f"landing day {file.day.isoformat()} widened by {skew_us // 60_000_000} min"
    con.execute(
        f"""
        INSERT INTO {EVENTS_TABLE}
        WITH raw AS ({raw_query}),
        f AS (
            SELECT line, problem,
                nullif(event_id, '') AS event_id, nullif(learner_id, '') AS learner_id,
                nullif(course_id, '') AS course_id, nullif(ts, '') AS ts, nullif(event_type, '') AS event_type,
                nullif(duration_s, '') AS duration_s, nullif(correct, '') AS correct,
                nullif(attempt, '') AS attempt, nullif(amount, '') AS amount
            FROM raw
        ),
        p AS (
            SELECT f.*,
                CASE WHEN length(ts) >= 16 AND substr(ts, 11, 1) IN ('T', 't', ' ')
                     THEN epoch_us(TRY_CAST(ts AS TIMESTAMPTZ)) END AS ts_us,
                TRY_CAST(duration_s AS DOUBLE) AS dur, TRY_CAST(amount AS DOUBLE) AS amt,
                TRY_CAST(attempt AS DOUBLE) AS att, lower(correct) AS lc, k.lidx
            FROM f LEFT JOIN {LEARNERS_TABLE} k
                ON f.learner_id = k.learner_id AND f.course_id = k.course_id
        ),
        c AS (
            SELECT p.*,
                CASE WHEN problem IS NOT NULL THEN 'invalid_record'
                     WHEN {" OR ".join(req)} THEN 'missing_field'
                     WHEN ts_us IS NULL THEN 'bad_timestamp'
                     WHEN ts_us < {lo} OR ts_us > {hi} THEN 'out_of_window'
                     WHEN event_type NOT IN {_TYPES_SQL} THEN 'unknown_event_type'
                     WHEN {bad_duration} OR {bad_amount} OR {bad_attempt} OR {bad_correct} THEN 'bad_value'
                     WHEN lidx IS NULL THEN 'unknown_learner'
                END AS reason
            FROM p
        )
        SELECT {file.index}, line, {file.day_index}, event_id, lidx, event_type,
            CASE WHEN reason IS NULL THEN dur END,
            CASE WHEN reason IS NULL THEN lc = 'true' END,
            reason,
            CASE reason
                WHEN 'invalid_record' THEN problem || '; record quarantined'
                WHEN 'missing_field' THEN 'required field ''' || (CASE {first_missing} END)
                    || ''' is missing or empty'
                WHEN 'bad_timestamp' THEN 'timestamp ' || shown(ts, learner_id)
                    || ' is not an ISO-8601 date and time'
                WHEN 'out_of_window' THEN 'timestamp ' || shown(ts, learner_id) || ' is '
                    || strftime(make_timestamp(ts_us), '%Y-%m-%dT%H:%M:%SZ') || ', outside {window}'
                WHEN 'unknown_event_type' THEN 'event_type ' || shown(event_type, learner_id)
                    || ' is not a known event type'
                WHEN 'bad_value' THEN CASE
                    WHEN {bad_duration} THEN 'duration_s ' || shown(duration_s, learner_id)
                        || ' is not a non-negative number'
                    WHEN {bad_correct} THEN 'correct ' || shown(correct, learner_id) || ' is not true or false'
                    WHEN {bad_attempt} THEN 'attempt ' || shown(attempt, learner_id) || ' is not a positive integer'
                    ELSE 'amount ' || shown(amount, learner_id) || ' is not a non-negative number' END
                WHEN 'unknown_learner' THEN 'learner {{learner}} has no row for course '
                    || shown(course_id, learner_id) || ' in learners.csv'
            END,
            CASE WHEN reason = 'unknown_learner' THEN learner_id END
        FROM c
        """
    )


def mark_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    """Quarantine every accepted record whose event_id was accepted earlier in the span.

    Candidates are found by a 64-bit hash of the event id (one cheap aggregation over the span);
    only rows in colliding hash groups are ranked, by the exact id, in delivery order.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE duplicate_rows AS
        WITH cand AS (
            SELECT rowid AS rid, event_id, file_idx, line, hash(event_id) AS h
            FROM {EVENTS_TABLE} WHERE reason IS NULL
        ),
        repeated AS (SELECT h FROM cand GROUP BY h HAVING count(*) > 1),
        ranked AS (
            SELECT rid, row_number() OVER w AS rn,
                first_value(file_idx) OVER w AS first_file, first_value(line) OVER w AS first_line
            FROM cand WHERE h IN (SELECT h FROM repeated)
            WINDOW w AS (PARTITION BY event_id ORDER BY file_idx, line)
        )
        SELECT rid, first_file, first_line FROM ranked WHERE rn > 1
        """
    )
    con.execute(
        f"""
        UPDATE {EVENTS_TABLE} SET reason = 'duplicate', duration = NULL, correct = NULL,
            detail = 'event_id already delivered at ' || fi.relative || ' line ' || d.first_line
                || '; first delivery kept'
        FROM duplicate_rows d JOIN {FILES_TABLE} fi ON fi.idx = d.first_file
        WHERE {EVENTS_TABLE}.rowid = d.rid
        """
    )


def name_unknown_learners(con: duckdb.DuckDBPyConnection, pseudonyms: dict[str, str]) -> None:
    """Put pseudonyms into unknown_learner details and drop the raw ids from the event table."""
    if pseudonyms:
        mapping = pd.DataFrame(
            {"raw": list(pseudonyms), "pseudonym": list(pseudonyms.values())}, dtype=object
        )
        con.register("unknown_pseudonyms", mapping)
        con.execute(
            f"""
            UPDATE {EVENTS_TABLE}
            SET detail = replace(detail, '{{learner}}', m.pseudonym::VARCHAR), raw_learner = NULL
            FROM unknown_pseudonyms m WHERE {EVENTS_TABLE}.raw_learner = m.raw::VARCHAR
            """
        )
        con.unregister("unknown_pseudonyms")
    left = con.execute(f"SELECT count(*) FROM {EVENTS_TABLE} WHERE raw_learner IS NOT NULL").fetchone()[0]  # type: ignore[index]
    if left:
        raise RuntimeError(f"{left} unknown_learner rows kept a raw learner id; refusing to emit them")


def quarantine_query() -> str:
    """Quarantined rows in output shape, in delivery order."""
    return f"""
        SELECT fi.relative AS file, e.line AS line, fi.day AS landing_day, e.reason AS reason,
            fi.relative || ' line ' || e.line || ': ' || e.detail AS detail
        FROM {EVENTS_TABLE} e JOIN {FILES_TABLE} fi ON fi.idx = e.file_idx
        WHERE e.reason IS NOT NULL
        ORDER BY e.file_idx, e.line
    """


def reason_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Quarantined rows per reason, every reason present (zeros included)."""
    rows = dict(
        con.execute(
            f"SELECT reason, count(*) FROM {EVENTS_TABLE} WHERE reason IS NOT NULL GROUP BY reason"
        ).fetchall()
    )
    unknown = set(rows) - set(QUARANTINE_REASONS)
    if unknown:
        raise RuntimeError(f"validation produced reasons outside QUARANTINE_REASONS: {sorted(unknown)}")
    return {r: int(rows.get(r, 0)) for r in QUARANTINE_REASONS}
