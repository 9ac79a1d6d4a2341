"""Tests for lab.generator: layout, determinism, fault bookkeeping, label signal and drift switches.

Fault tests read the landing files with a small reference reader written from the contract in
``dropout/events.py`` (not from the generator) and check that its verdicts add up to the manifest.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.json as pajson
import pytest

from dropout.contract.events import (
    EVENT_FIELDS,
    EVENT_TYPES,
    LEARNER_COLUMNS,
    OUTCOME_COLUMNS,
    QUARANTINE_REASONS,
    REQUIRED_EVENT_FIELDS,
)
from lab.generator import RAW_ID_PATTERNS, GeneratorConfig, Manifest, generate, main
from lab.generator.landing import MAX_SKEW_S

TOLERANCE = dt.timedelta(minutes=15)  # IngestionSettings.clock_skew_minutes default
FAULTY = dict(
    learners=60, days=4, seed=11, malformed_rate=0.2, duplicate_rate=0.1, clock_skew_rate=0.1, offset_rate=0.2
)


# ---------------------------------------------------------------------------------------------------
# Reference reader


def _files(root: Path) -> list[Path]:
    return sorted((root / "landing").glob("*/events-*"))


def _raw_lines(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return lines[1:] if path.suffix == ".csv" else lines


def _parse(line: str, fmt: str) -> dict | None:
    """The record as a dict of present fields, or None when it is not a record at all."""
    if fmt == "csv":
        row = next(csv.reader([line]))
        if len(row) != len(EVENT_FIELDS):
            return None
        return {k: v for k, v in zip(EVENT_FIELDS, row, strict=True) if v != ""}
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return None
    return rec if isinstance(rec, dict) else None


def _bad_number(value: object, minimum: float) -> bool:
    if isinstance(value, bool):
        return True
    try:
        return float(value) < minimum  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True


def _verdict(
    rec: dict | None, date: str, known: set[tuple[str, str]], seen: set[str]
) -> tuple[str | None, dt.datetime | None]:
    """(quarantine reason or None, UTC instant) for one record, checking reasons in contract order."""
    if rec is None:
        return "invalid_record", None
    if any(rec.get(f) in (None, "") for f in REQUIRED_EVENT_FIELDS):
        return "missing_field", None
    try:
        ts = dt.datetime.fromisoformat(rec["ts"])
    except ValueError:
        return "bad_timestamp", None
    if ts.tzinfo is None:
        return "bad_timestamp", None
    start = dt.datetime.fromisoformat(date).replace(tzinfo=dt.UTC)
    if not start - TOLERANCE <= ts < start + dt.timedelta(days=1) + TOLERANCE:
        return "out_of_window", ts
    if rec["event_type"] not in EVENT_TYPES:
        return "unknown_event_type", ts
    correct = rec.get("correct")
    if (
        ("duration_s" in rec and _bad_number(rec["duration_s"], 0))
        or ("amount" in rec and _bad_number(rec["amount"], 0))
        or ("attempt" in rec and _bad_number(rec["attempt"], 1))
        or (correct is not None and correct not in (True, False, "true", "false"))
    ):
        return "bad_value", ts
    if (rec["learner_id"], rec["course_id"]) not in known:
        return "unknown_learner", ts
    if rec["event_id"] in seen:
        return "duplicate", ts
    seen.add(rec["event_id"])
    return None, ts


def _ingest(root: Path) -> list[dict]:
    """Every line in read order with its day, file, text, parsed record, verdict and UTC instant."""
    fmt = Manifest.load(root).format
    learners = pd.read_csv(root / "learners.csv", dtype=str)
    known = set(zip(learners.learner_id, learners.course_id, strict=True))
    seen: set[str] = set()
    out = []
    for path in _files(root):
        date = path.parent.name
        for line in _raw_lines(path):
            rec = _parse(line, fmt)
            reason, ts = _verdict(rec, date, known, seen)
            out.append(dict(date=date, file=path.name, line=line, rec=rec, reason=reason, ts=ts))
    return out


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    ranks = pd.Series(score).rank().to_numpy()
    pos = label == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def _events(root: Path) -> pd.DataFrame:
    """All events of a fault-free JSON-lines run, with their landing day."""
    frames = [pajson.read_json(p).to_pandas().assign(day=p.parent.name) for p in _files(root)]
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------------
# Fixtures (module scope: each dataset is generated once)


@pytest.fixture(scope="module")
def faulty_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faulty_jsonl")
    generate(root, GeneratorConfig(**FAULTY, format="jsonl"))
    return root


@pytest.fixture(scope="module")
def faulty_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faulty_csv")
    generate(root, GeneratorConfig(**FAULTY, format="csv"))
    return root


# ---------------------------------------------------------------------------------------------------
# Layout and determinism


def test_same_seed_gives_byte_identical_files(tmp_path: Path, faulty_jsonl: Path) -> None:
    generate(tmp_path / "again", GeneratorConfig(**FAULTY))
    first = {p.relative_to(faulty_jsonl): p.read_bytes() for p in faulty_jsonl.rglob("*") if p.is_file()}
    again = {
        p.relative_to(tmp_path / "again"): p.read_bytes()
        for p in (tmp_path / "again").rglob("*")
        if p.is_file()
    }
    assert first.keys() == again.keys()
    assert [k for k in first if first[k] != again[k]] == []

    generate(tmp_path / "other", GeneratorConfig(**{**FAULTY, "seed": 12}))
    assert (tmp_path / "other" / "learners.csv").read_bytes() != first[Path("learners.csv")]


def test_layout_headers_and_field_names(faulty_jsonl: Path, faulty_csv: Path) -> None:
    days = [f"{dt.date(2026, 9, 1) + dt.timedelta(days=i)}" for i in range(FAULTY["days"])]
    assert sorted(p.name for p in (faulty_jsonl / "landing").iterdir()) == days
    for path in _files(faulty_jsonl):
        assert re.fullmatch(rf"events-{path.parent.name}-\d{{3}}\.jsonl", path.name)
    assert pd.read_csv(faulty_jsonl / "learners.csv").columns.tolist() == list(LEARNER_COLUMNS)
    assert pd.read_csv(faulty_jsonl / "outcomes.csv").columns.tolist() == list(OUTCOME_COLUMNS)
    keys = Counter(k for row in _ingest(faulty_jsonl) if row["reason"] is None for k in row["rec"])
    assert set(keys) <= set(EVENT_FIELDS)
    assert all(keys[f] == keys["event_id"] for f in REQUIRED_EVENT_FIELDS)
    assert 0 < keys["email"] < keys["ip"] < keys["event_id"]  # personal data rides on some events only
    for path in _files(faulty_csv):
        assert path.read_text().splitlines()[0] == ",".join(EVENT_FIELDS)


def test_learner_table_values(faulty_jsonl: Path) -> None:
    learners = pd.read_csv(faulty_jsonl / "learners.csv", dtype=str, keep_default_na=False)
    assert learners.learner_id.is_unique and len(learners) == FAULTY["learners"]
    assert set(learners.region) <= {"EU", "NA", "APAC", "LATAM", "AF"}
    assert set(learners.device) <= {"web", "ios", "android"}
    assert set(learners.age_band) <= {"<25", "25-34", "35-54", "55+", ""}
    assert set(learners.gender) <= {"f", "m", "x", ""}
    free = learners.plan == "free"
    assert free.any() and (learners.price[free].astype(float) == 0).all()
    assert (learners.price[~free].astype(float) > 0).all()
    enrolled = pd.to_datetime(learners.enrolled_on)
    assert (enrolled < "2026-09-01").mean() > 0.5 and (enrolled > "2026-09-01").any()


def test_raw_identifiers_match_the_published_patterns(faulty_jsonl: Path) -> None:
    learners = pd.read_csv(faulty_jsonl / "learners.csv", dtype=str)
    assert all(RAW_ID_PATTERNS["learner_id"].fullmatch(x) for x in learners.learner_id)
    assert all(RAW_ID_PATTERNS["email"].fullmatch(x) for x in learners.email)
    text = "".join(p.read_text() for p in _files(faulty_jsonl))
    found = {name: set(rx.findall(text)) for name, rx in RAW_ID_PATTERNS.items()}
    assert all(found.values()), {k: len(v) for k, v in found.items()}
    assert found["email"] <= set(learners.email)
    # Every learner_id field in the landing files, known or not, is caught by the pattern.
    ids = {r["rec"]["learner_id"] for r in _ingest(faulty_jsonl) if r["rec"] and r["rec"].get("learner_id")}
    assert ids == {x for x in found["learner_id"]}


# ---------------------------------------------------------------------------------------------------
# Fault bookkeeping


def test_manifest_line_counts_equal_the_files(faulty_jsonl: Path) -> None:
    manifest = Manifest.load(faulty_jsonl)
    assert manifest.lines_total == manifest.valid_events + sum(manifest.injected.values())
    assert set(manifest.injected) == set(QUARANTINE_REASONS)
    for date, entry in manifest.per_day.items():
        counted = {p.name: len(_raw_lines(p)) for p in (faulty_jsonl / "landing" / date).iterdir()}
        assert counted == entry["files"]
        assert (
            sum(counted.values()) == entry["lines"] == entry["valid_events"] + sum(entry["injected"].values())
        )
    assert sum(e["lines"] for e in manifest.per_day.values()) == manifest.lines_total


@pytest.mark.parametrize("fixture", ["faulty_jsonl", "faulty_csv"])
def test_reference_ingestion_reconciles_with_manifest(fixture: str, request: pytest.FixtureRequest) -> None:
    root = request.getfixturevalue(fixture)
    manifest = Manifest.load(root)
    rows = _ingest(root)
    for date, entry in manifest.per_day.items():
        verdicts = Counter(r["reason"] for r in rows if r["date"] == date)
        assert verdicts.pop(None, 0) == entry["valid_events"], date
        assert {k: v for k, v in entry["injected"].items() if v} == dict(verdicts), date
    assert all(manifest.injected[r] > 0 for r in QUARANTINE_REASONS), manifest.injected


@pytest.mark.parametrize("fixture", ["faulty_jsonl", "faulty_csv"])
def test_ingestion_accepts_and_quarantines_exactly_what_the_manifest_says(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    ingest = pytest.importorskip("dropout.ingestion")
    root = request.getfixturevalue(fixture)
    manifest = Manifest.load(root)
    result = ingest.ingest_span(
        root / "landing",
        root / "learners.csv",
        root / "outcomes.csv",
        first_day=dt.date.fromisoformat(manifest.first_day),
        span=0,
        window_days=manifest.days,
        key=b"test-key",
        threads=1,
    )
    assert result.counts["accepted"] == manifest.valid_events
    assert result.counts["input_records"] == manifest.lines_total
    assert Counter(result.quarantine.column("reason").to_pylist()) == {
        k: v for k, v in manifest.injected.items() if v
    }


def test_malformed_records_are_broken_only_in_their_own_way(faulty_jsonl: Path) -> None:
    rows = _ingest(faulty_jsonl)
    by_reason = {r: [x for x in rows if x["reason"] == r] for r in QUARANTINE_REASONS}
    assert all(not x["line"].rstrip().endswith("}") for x in by_reason["invalid_record"])
    # Repairing the one broken field makes each record acceptable, so nothing else was wrong.
    for x in by_reason["bad_timestamp"] + by_reason["out_of_window"]:
        assert x["rec"]["event_type"] in EVENT_TYPES and x["rec"]["learner_id"].startswith("LRN")
    assert {x["rec"]["ts"][:7] for x in by_reason["bad_timestamp"]} & {"2026-13", "not-a-t"}
    outside = [
        abs((x["ts"] - dt.datetime.fromisoformat(x["date"] + "T12:00+00:00")).total_seconds())
        for x in by_reason["out_of_window"]
    ]
    assert min(outside) > 12 * 3600 + 3600
    values = Counter(
        "duration"
        if x["rec"].get("duration_s", 0) < 0
        else "attempt"
        if x["rec"].get("attempt") == 0
        else x["rec"].get("correct")
        for x in by_reason["bad_value"]
    )
    assert set(values) <= {"duration", "attempt", "maybe"} and sum(values.values()) == len(
        by_reason["bad_value"]
    )
    learners = set(pd.read_csv(faulty_jsonl / "learners.csv").learner_id)
    assert all(
        RAW_ID_PATTERNS["learner_id"].fullmatch(x["rec"]["learner_id"]) for x in by_reason["unknown_learner"]
    )
    assert not {x["rec"]["learner_id"] for x in by_reason["unknown_learner"]} & learners


def test_duplicates_repeat_an_earlier_line_exactly(faulty_jsonl: Path) -> None:
    rows = _ingest(faulty_jsonl)
    first_line: dict[str, tuple[int, str, str]] = {}
    dups = 0
    for i, r in enumerate(rows):
        if r["reason"] is None:
            first_line[r["rec"]["event_id"]] = (i, r["line"], r["date"])
        elif r["reason"] == "duplicate":
            j, line, date = first_line[r["rec"]["event_id"]]
            assert j < i and line == r["line"] and date == r["date"]
            dups += 1
    assert dups == Manifest.load(faulty_jsonl).injected["duplicate"] > 0


def test_skewed_and_offset_timestamps_are_valid_and_counted(faulty_jsonl: Path) -> None:
    manifest = Manifest.load(faulty_jsonl)
    accepted = [r for r in _ingest(faulty_jsonl) if r["reason"] is None]
    outside = []
    for r in accepted:
        start = dt.datetime.fromisoformat(r["date"]).replace(tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1)
        if not start <= r["ts"] < end:
            outside.append(max((start - r["ts"]).total_seconds(), (r["ts"] - end).total_seconds()))
    assert len(outside) == manifest.skewed_within_tolerance > 0
    assert max(outside) <= MAX_SKEW_S
    offsets = Counter(r["rec"]["ts"][-6:] for r in accepted)
    assert sum(n for o, n in offsets.items() if o != "+00:00") == manifest.non_utc_offsets
    assert len(offsets) > 3  # several different offsets, all of the same instants


def test_csv_and_jsonl_carry_the_same_records(faulty_jsonl: Path, faulty_csv: Path) -> None:
    def normalised(root: Path) -> list[tuple]:
        out = []
        for r in _ingest(root):
            rec = r["rec"] or {}
            text = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in rec.items() if v != ""}
            out.append(
                (
                    r["date"],
                    r["reason"],
                    tuple(sorted(text.items())) if r["reason"] != "invalid_record" else (),
                )
            )
        return out

    jsonl, csv_ = normalised(faulty_jsonl), normalised(faulty_csv)
    assert len(jsonl) == len(csv_) and jsonl == csv_


def test_days_split_into_parts_of_bounded_size(tmp_path: Path) -> None:
    manifest = generate(
        tmp_path, GeneratorConfig(learners=40, days=2, seed=3, duplicate_rate=0.2, part_lines=50)
    )
    for date, entry in manifest.per_day.items():
        assert len(entry["files"]) == -(-entry["lines"] // 50) > 1
        assert all(n <= 50 for n in entry["files"].values())
        assert sorted(entry["files"]) == sorted(p.name for p in (tmp_path / "landing" / date).iterdir())


# ---------------------------------------------------------------------------------------------------
# Labels


@pytest.fixture(scope="module")
def cohort_2000(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cohort_2000")
    generate(root, GeneratorConfig(learners=2000, days=10, seed=5))
    return root


def test_dropouts_show_in_the_first_ten_days(cohort_2000: Path) -> None:
    pattern = re.compile(r'"learner_id":"(LRN\d{8})"')
    active = Counter(x for p in _files(cohort_2000) for x in set(pattern.findall(p.read_text())))
    learners = pd.read_csv(cohort_2000 / "learners.csv").merge(pd.read_csv(cohort_2000 / "outcomes.csv"))
    learners = learners[learners.enrolled_on <= "2026-09-01"]  # enrolled for all ten days
    learners["active_days"] = learners.learner_id.map(active).fillna(0)
    means = learners.groupby("dropped_out").active_days.mean()
    assert means[1] < 0.6 * means[0], means.to_dict()
    auc = _auc(-learners.active_days.to_numpy(), learners.dropped_out.to_numpy())  # fewer days, more risk
    assert 0.75 < auc < 0.97, auc  # strong signal, but not a give-away


def test_final_score_only_for_learners_who_stayed(cohort_2000: Path) -> None:
    outcomes = pd.read_csv(cohort_2000 / "outcomes.csv")
    assert outcomes.final_score[outcomes.dropped_out == 1].isna().all()
    stayed = outcomes.final_score[outcomes.dropped_out == 0]
    assert stayed.notna().all() and stayed.between(0, 100).all() and stayed.std() > 5
    assert outcomes.churned.isna().all()  # not a paid platform


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_dropout_rate_is_close_to_the_requested_one(tmp_path: Path, rate: float) -> None:
    manifest = generate(tmp_path, GeneratorConfig(learners=800, days=1, seed=2, dropout_rate=rate))
    observed = pd.read_csv(tmp_path / "outcomes.csv").dropped_out.mean()
    assert abs(observed - rate) < 0.02 and manifest.dropout_rate == pytest.approx(observed, abs=1e-4)


def test_paid_platform_has_billing_events_and_churn(tmp_path: Path) -> None:
    generate(tmp_path, GeneratorConfig(learners=400, days=20, seed=4, paid=True))
    learners = pd.read_csv(tmp_path / "learners.csv").merge(pd.read_csv(tmp_path / "outcomes.csv"))
    assert set(learners.plan) == {"monthly", "annual"} and (learners.price > 0).all()
    assert set(learners.churned) == {0, 1}
    assert (
        learners.churned[learners.dropped_out == 1].mean()
        > 2 * learners.churned[learners.dropped_out == 0].mean()
    )
    events = _events(tmp_path)
    types = set(events.event_type)
    assert {"purchase", "subscription_renew", "subscription_cancel"} <= types
    assert (events.amount[events.event_type.isin(["purchase", "subscription_renew"])] > 0).all()
    cancelled = set(events.learner_id[events.event_type == "subscription_cancel"])
    share = learners.assign(c=learners.learner_id.isin(cancelled)).groupby("churned").c.mean()
    assert share[1] > 5 * share[0], share.to_dict()


def test_free_platform_has_no_billing_events(faulty_jsonl: Path) -> None:
    types = {r["rec"]["event_type"] for r in _ingest(faulty_jsonl) if r["reason"] is None}
    assert not types & {"purchase", "subscription_renew", "subscription_cancel"}
    assert {"login", "video_play", "video_complete", "quiz_submit", "page_view"} <= types


# ---------------------------------------------------------------------------------------------------
# Drift switches


def test_drift_cohort_behaves_differently(tmp_path: Path) -> None:
    manifest = generate(tmp_path, GeneratorConfig(learners=600, days=20, seed=8, drift_cohort_from_day=8))
    learners = pd.read_csv(tmp_path / "learners.csv")
    new = learners.cohort == manifest.drift["cohort"]
    assert manifest.drift["cohort"] == "2026-09-new" and new.sum() == manifest.drift["cohort_learners"] > 30
    assert (learners.enrolled_on[new] >= "2026-09-09").all() and (
        learners.enrolled_on[~new] < "2026-09-09"
    ).all()
    android = learners.groupby(new).device.apply(lambda d: (d == "android").mean())
    assert android[True] > 0.6 > 0.4 > android[False]
    events = _events(tmp_path).merge(learners[["learner_id", "cohort"]])
    events["new"] = events.cohort == manifest.drift["cohort"]
    counts = events.groupby(["new", "event_type"]).size()
    completion = {k: counts[k, "video_complete"] / counts[k, "video_play"] for k in (True, False)}
    assert completion[True] < 0.5 * completion[False], completion
    dwell = events[events.event_type == "page_view"].groupby("new").duration_s.mean()
    assert dwell[True] < 0.6 * dwell[False]


def test_app_version_change_halves_dwell_and_doubles_logins(tmp_path: Path) -> None:
    manifest = generate(tmp_path, GeneratorConfig(learners=300, days=12, seed=9, app_version_change_day=6))
    assert manifest.drift["app_version_change_date"] == "2026-09-07"
    events = _events(tmp_path)
    after = events.day >= "2026-09-07"
    assert (events.app_version[after] == "3.0").all() and not (events.app_version[~after] == "3.0").any()
    pages = events[events.event_type == "page_view"].groupby(after).duration_s.mean()
    assert 0.35 < pages[True] / pages[False] < 0.65
    logins = (
        events[events.event_type == "login"]
        .groupby([after, "day", "learner_id"])
        .size()
        .groupby(level=0)
        .mean()
    )
    assert 1.6 < logins[True] / logins[False] < 2.4


# ---------------------------------------------------------------------------------------------------
# Config and command line


def test_invalid_config_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format='xml'.*malformed_rate=0.9"):
        generate(tmp_path, GeneratorConfig(format="xml", malformed_rate=0.9))
    with pytest.raises(ValueError, match="app_version_change_day=5: use a day index in 0..4"):
        GeneratorConfig(days=5, app_version_change_day=5).validate()


def test_refuses_to_mix_runs_unless_told(tmp_path: Path) -> None:
    generate(tmp_path, GeneratorConfig(learners=5, days=3))
    with pytest.raises(FileExistsError, match="--overwrite"):
        generate(tmp_path, GeneratorConfig(learners=5, days=1))
    generate(tmp_path, GeneratorConfig(learners=5, days=1), overwrite=True)
    assert [p.name for p in (tmp_path / "landing").iterdir()] == ["2026-09-01"]


def test_command_line_writes_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "--out",
            str(tmp_path),
            "--learners",
            "20",
            "--days",
            "2",
            "--seed",
            "3",
            "--format",
            "csv",
            "--paid",
            "--malformed-rate",
            "0.05",
            "--first-day",
            "2026-11-20",
        ]
    )
    assert status == 0 and "lines" in capsys.readouterr().out
    manifest = Manifest.load(tmp_path)
    assert (manifest.format, manifest.paid, list(manifest.per_day)) == (
        "csv",
        True,
        ["2026-11-20", "2026-11-21"],
    )
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "x"), "--learners", "0", "--days", "1"])
