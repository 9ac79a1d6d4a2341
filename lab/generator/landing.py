"""Landing files for ``lab.generator``: one day's events as JSON lines or CSV, with injected faults.

Every field of a day's events is first a pyarrow column of JSON literals (``"LRN00001234"``, ``12``,
``true``; null = field absent); JSON lines join ``"field":literal`` fragments, CSV strips the quotes.
Faults are built from copies of valid events and changed in exactly one way each, so every malformed
line has one unambiguous quarantine reason; valid lines are never changed.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dropout.contract.events import EVENT_FIELDS, EVENT_TYPES, QUARANTINE_REASONS, REQUIRED_EVENT_FIELDS
from lab.generator.learners import (
    APP_VERSIONS,
    DAY_S,
    NEW_APP_VERSION,
    DayEvents,
    Population,
    rng_for,
    simulate_day,
)

if TYPE_CHECKING:
    from lab.generator.config import GeneratorConfig

# Largest clock skew written; ingestion accepts IngestionSettings.clock_skew_minutes (15 by default)
# beyond the landing day, so every skewed event must be accepted.
MAX_SKEW_S = 10 * 60
# Non-UTC offsets (minutes) some clients write; the instant is the same as the UTC one.
UTC_OFFSETS_MIN: tuple[int, ...] = (60, 120, -300, -240, 330, 540, -180, 600)
# Share of events on which clients send raw personal data along (dropped at ingestion).
PERSONAL_DATA_SHARE = {"email": 0.04, "ip": 0.3, "device_id": 0.35}

MALFORMED_REASONS: tuple[str, ...] = tuple(r for r in QUARANTINE_REASONS if r != "duplicate")
UNKNOWN_EVENT_TYPES: tuple[str, ...] = ("video_pause", "logout", "quiz_start", "page-view", "cart_add")
BAD_TIMESTAMPS: tuple[str, ...] = ("2026-13-01T99:00", "{date}T25:61:00+00:00", "not-a-timestamp")
OUT_OF_WINDOW_S = (2 * 3600, 30 * 3600)  # how far beyond the landing day out_of_window faults lie


def quote(values: Any) -> pa.Array:
    """JSON string literals of plain strings (which never hold quotes or backslashes here)."""
    return pc.binary_join_element_wise('"', pa.array(values, pa.string()), '"', "")


class LearnerLiterals:
    """Per-learner JSON literals, built once per run and taken per event."""

    def __init__(self, pop: Population) -> None:
        self.learner_id = quote(pop.ids)
        self.course_id = quote(pop.courses)
        self.email = quote(pop.emails)
        self.ip = quote(pop.ips)
        self.device_id = quote(pop.device_ids)
        self.app_version = quote(np.array(APP_VERSIONS)[pop.app_version])


@functools.lru_cache(maxsize=1)
def _clock() -> pa.Array:
    s = np.arange(DAY_S)
    return pa.array(
        [f"{h:02d}:{m:02d}:{x:02d}" for h, m, x in zip(s // 3600, s // 60 % 60, s % 60, strict=True)]
    )


def offset_suffix(minutes: int) -> str:
    """``+HH:MM`` / ``-HH:MM`` for an offset in minutes."""
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def ts_literals(utc_s: np.ndarray, offset_min: np.ndarray) -> pa.Array:
    """Quoted ISO-8601 timestamps of epoch seconds, written in the given offsets (0 = ``+00:00``)."""
    local = utc_s + offset_min.astype(np.int64) * 60
    day = local // DAY_S
    base = int(day.min()) if day.size else 0
    dates = pa.array(
        np.datetime_as_string(np.arange(base, int(day.max(initial=base)) + 1).astype("datetime64[D]"))
    )
    known = np.sort(np.array((0, *UTC_OFFSETS_MIN)))
    suffixes = pa.array([offset_suffix(int(o)) for o in known])
    return pc.binary_join_element_wise(
        '"',
        dates.take(pa.array(day - base)),
        "T",
        _clock().take(pa.array(local - day * DAY_S)),
        suffixes.take(pa.array(np.searchsorted(known, offset_min))),
        '"',
        "",
    )


def _number(values: np.ndarray, present: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values, mask=~present), pa.string())


def _take(literals: pa.Array, rows: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    return literals.take(pa.array(rows, mask=None if present is None else ~present))


def render(
    lit: LearnerLiterals,
    ev: DayEvents,
    event_ids: pa.Array,
    offset_min: np.ndarray,
    app_change: bool,
    rng: np.random.Generator,
) -> dict[str, pa.Array]:
    """JSON-literal columns of ``ev`` (already in delivery order), keyed by EVENT_FIELDS."""
    m = len(ev)
    who = ev.learner
    return {
        "event_id": event_ids,
        "learner_id": _take(lit.learner_id, who),
        "course_id": _take(lit.course_id, who),
        "ts": ts_literals(ev.ts, offset_min),
        "event_type": _take(quote(list(EVENT_TYPES)), ev.etype),
        "duration_s": _number(ev.duration, ev.duration >= 0),
        "correct": _take(pa.array(["false", "true"]), ev.correct.clip(0), ev.correct >= 0),
        "attempt": _number(ev.attempt, ev.attempt > 0),
        "amount": _number(ev.amount, ~np.isnan(ev.amount)),
        "app_version": quote([NEW_APP_VERSION] * m) if app_change else _take(lit.app_version, who),
        **{
            name: _take(getattr(lit, name), who, rng.random(m) < share)
            for name, share in PERSONAL_DATA_SHARE.items()
        },
    }


def _csv_values(cols: dict[str, pa.Array], fields: tuple[str, ...]) -> list[pa.Array]:
    return [pc.fill_null(pc.replace_substring(cols[f], '"', ""), "") for f in fields]


def lines(cols: dict[str, pa.Array], fmt: str) -> pa.Array:
    """One line per row, each ending in a newline. JSON omits absent fields; CSV leaves them empty.

    ``event_id`` must never be null (a missing event_id is written as an empty string).
    """
    if fmt == "csv":
        values = _csv_values(cols, EVENT_FIELDS)
        parts = [x for v in values for x in (v, ",")][:-1]
        return pc.binary_join_element_wise(*parts, "\n", "")
    frags = [pc.binary_join_element_wise('{"event_id":', cols["event_id"], "")]
    frags += [pc.binary_join_element_wise(f',"{f}":', cols[f], "") for f in EVENT_FIELDS[1:]]
    return pc.binary_join_element_wise(*frags, "}\n", "", null_handling="skip")


def _null(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def malformed(
    kind: str,
    cols: dict[str, pa.Array],
    rng: np.random.Generator,
    fmt: str,
    date: str,
    day_start: int,
    unknown_ids: np.ndarray,
) -> pa.Array:
    """Lines broken in exactly one way: the way the quarantine reason ``kind`` names.

    The random draws do not depend on ``fmt``, so JSON and CSV runs carry the same faults.
    """
    n = len(cols["event_id"])
    cols = dict(cols)
    if kind == "invalid_record":
        halves = pa.array(rng.random(n) < 0.5)
        if fmt == "csv":
            # The wrong number of fields: half lack the last one, half carry an extra one.
            values = _csv_values(cols, EVENT_FIELDS)
            short = pc.binary_join_element_wise(*values[:-1], ",")
            long = pc.binary_join_element_wise(*values, "extra", ",")
            return pc.binary_join_element_wise(pc.if_else(halves, short, long), "\n", "")
        # Truncated JSON: the line stops inside the event_type value (half right after its opening
        # quote), so the string and the object never close.
        head = [pc.binary_join_element_wise(f'"{f}":', cols[f], "") for f in EVENT_FIELDS[:4]]
        body = pc.binary_join_element_wise(*head, ",")
        cut = pc.if_else(halves, pc.utf8_slice_codeunits(cols["event_type"], 0, 4), '"')
        return pc.binary_join_element_wise("{", body, ',"event_type":', cut, "\n", "")
    if kind == "missing_field":
        which = rng.integers(0, len(REQUIRED_EVENT_FIELDS), n)
        # An absent key or an empty value (CSV writes both as an empty field). A missing event_id is
        # always written empty, which keeps every JSON line starting with it.
        absent = pa.array(rng.random(n) < 0.5)
        for i, name in enumerate(REQUIRED_EVENT_FIELDS):
            gone = '""' if name == "event_id" else pc.if_else(absent, _null(n), '""')
            cols[name] = pc.if_else(pa.array(which == i), gone, cols[name])
    elif kind == "bad_timestamp":
        texts = np.array([t.format(date=date) for t in BAD_TIMESTAMPS])
        cols["ts"] = quote(texts[rng.integers(0, len(texts), n)])
    elif kind == "out_of_window":
        away = rng.integers(*OUT_OF_WINDOW_S, n)
        utc = np.where(rng.random(n) < 0.5, day_start - away, day_start + DAY_S + away)
        cols["ts"] = ts_literals(utc, np.zeros(n, np.int64))
    elif kind == "unknown_event_type":
        cols["event_type"] = quote(
            np.array(UNKNOWN_EVENT_TYPES)[rng.integers(0, len(UNKNOWN_EVENT_TYPES), n)]
        )
    elif kind == "bad_value":
        # One out-of-contract value on an event type that carries that field: a negative page_view
        # duration, a quiz_submit whose correct is "maybe", or a quiz_submit with attempt 0.
        which = rng.integers(0, 3, n)
        negative = np.char.add("-", rng.integers(1, 600, n).astype(str))
        cols["event_type"] = quote(np.where(which == 0, "page_view", "quiz_submit"))
        cols["duration_s"] = pa.array(negative, pa.string(), mask=which != 0)
        cols["correct"] = pa.array(np.where(which == 1, '"maybe"', "true"), pa.string(), mask=which == 0)
        cols["attempt"] = pa.array(np.where(which == 1, "1", "0"), pa.string(), mask=which == 0)
        cols["amount"] = _null(n)
    elif kind == "unknown_learner":
        cols["learner_id"] = quote(unknown_ids[rng.integers(0, len(unknown_ids), n)])
    else:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {MALFORMED_REASONS}")
    return lines(cols, fmt)


def unknown_learner_ids(pop: Population, rng: np.random.Generator, count: int = 64) -> np.ndarray:
    """Well-formed learner ids (``LRN`` + 8 digits) that are not in learners.csv."""
    known = np.sort(np.array([int(x[3:]) for x in pop.ids]))
    pool = np.unique(rng.integers(0, 100_000_000, count * 4))
    pos = np.searchsorted(known, pool).clip(0, known.size - 1)
    pool = pool[known[pos] != pool][:count]
    return np.array([f"LRN{x:08d}" for x in pool])


def _event_ids(compact_date: str, start: int, n: int) -> pa.Array:
    counter = pc.utf8_lpad(
        pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string()), 8, "0"
    )
    return pc.binary_join_element_wise(f'"evt-{compact_date}-', counter, '"', "")


def write_day(
    pop: Population,
    lit: LearnerLiterals,
    cfg: GeneratorConfig,
    day: int,
    first: dt.date,
    landing: Path,
    unknown_ids: np.ndarray,
) -> dict[str, Any]:
    """Write landing day ``day`` (valid events plus faults) and return its manifest entry."""
    date = f"{first + dt.timedelta(days=day)}"
    day_start = int((np.datetime64(date) - np.datetime64("1970-01-01")) // np.timedelta64(1, "s"))
    rng = rng_for(cfg.seed, 2, day)
    ev = simulate_day(pop, cfg, day, day_start)
    n = len(ev)

    # Clock skew: a share of events lands just across the day's edge, within MAX_SKEW_S.
    n_skew = int(rng.binomial(n, cfg.clock_skew_rate))
    skewed = rng.choice(n, n_skew, replace=False)
    by = rng.integers(1, MAX_SKEW_S + 1, n_skew)
    ev.ts[skewed] = np.where(rng.random(n_skew) < 0.5, day_start - by, day_start + DAY_S - 1 + by)
    clean = np.ones(n, bool)
    clean[skewed] = False

    order = np.lexsort((ev.etype, ev.learner, ev.ts))  # deliveries arrive roughly in time order
    ev, clean = ev.take(order), clean[order]
    offsets = np.where(
        rng.random(n) < cfg.offset_rate,
        np.array(UTC_OFFSETS_MIN)[rng.integers(0, len(UTC_OFFSETS_MIN), n)],
        0,
    )
    compact = date.replace("-", "")
    app_change = cfg.app_version_change_day is not None and day >= cfg.app_version_change_day
    cols = render(lit, ev, _event_ids(compact, 0, n), offsets, app_change, rng)
    valid = lines(cols, cfg.format)

    injected = dict.fromkeys(QUARANTINE_REASONS, 0)
    pieces, keys = [valid], [np.arange(n, dtype=np.float64)]
    n_bad = int(rng.binomial(n, cfg.malformed_rate))
    if n_bad:
        kinds = rng.permutation(np.arange(n_bad) % len(MALFORMED_REASONS))
        # Templates are unskewed valid events; fresh ids keep a malformed line from being a duplicate.
        templates = rng.choice(np.flatnonzero(clean) if clean.any() else np.arange(n), n_bad)
        bad_cols = {name: col.take(pa.array(templates)) for name, col in cols.items()}
        bad_cols["event_id"] = _event_ids(compact, n, n_bad)
        for k, reason in enumerate(MALFORMED_REASONS):
            rows = pa.array(np.flatnonzero(kinds == k))
            if len(rows):
                picked = {name: col.take(rows) for name, col in bad_cols.items()}
                pieces.append(malformed(reason, picked, rng, cfg.format, date, day_start, unknown_ids))
                keys.append(rng.random(len(rows)) * n)
                injected[reason] = len(rows)
    n_dup = int(rng.binomial(n, cfg.duplicate_rate))
    if n_dup:
        # An exact re-delivery, always after the original (possibly in a later part of the day).
        original = np.sort(rng.choice(n, n_dup, replace=False))
        pieces.append(valid.take(pa.array(original)))
        keys.append(original + 0.5 + rng.random(n_dup) * (n - original - 0.5))
        injected["duplicate"] = n_dup
    out = valid
    if len(pieces) > 1:
        out = pa.concat_arrays(pieces).take(pa.array(np.argsort(np.concatenate(keys), kind="stable")))

    folder = landing / date
    folder.mkdir(parents=True, exist_ok=True)
    total = len(out)
    n_parts = max(1, -(-total // cfg.part_lines))
    bounds = np.linspace(0, total, n_parts + 1).astype(int)
    header = ",".join(EVENT_FIELDS) + "\n" if cfg.format == "csv" else ""
    files = {}
    for part in range(n_parts):
        name = f"events-{date}-{part:03d}.{cfg.format}"
        chunk = out.slice(bounds[part], bounds[part + 1] - bounds[part])
        _write_lines(folder / name, chunk, header)
        files[name] = len(chunk)
    return {
        "lines": total,
        "valid_events": n,
        "injected": injected,
        "skewed_within_tolerance": n_skew,
        "non_utc_offsets": int((offsets != 0).sum()),
        "files": files,
    }


def _write_lines(path: Path, chunk: pa.Array, header: str) -> None:
    """Write newline-terminated lines straight from the Arrow buffers (no per-line Python)."""
    with path.open("wb") as fh:
        fh.write(header.encode())
        if len(chunk):
            offsets = np.frombuffer(chunk.buffers()[1], np.int32)
            start, end = offsets[chunk.offset], offsets[chunk.offset + len(chunk)]
            fh.write(memoryview(chunk.buffers()[2])[start:end])
