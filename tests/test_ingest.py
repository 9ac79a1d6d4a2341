"""Tests for the plain-Python ingestion core (dropout.ingestion), on tiny landing zones built in tmp_path."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from dropout.contract.events import EVENT_FIELDS, QUARANTINE_REASONS
from dropout.contract.features import (
    ACTIVE_MASK_KEY,
    CATEGORICAL_CONTEXT,
    ENROLLED_MASK_KEY,
    FAIRNESS_ATTRIBUTES,
    LABEL_KEY,
    LEARNER_KEY,
    NUMERIC_CONTEXT,
    SCORE_KEY,
    SPAN_KEY,
    sequence_keys,
)
from dropout.ingestion import QUARANTINE_SCHEMA, SPLIT_COLUMN, ingest_span
from dropout.ingestion.pseudonymise import eval_split, pseudonym

KEY = b"test-key"
D0 = dt.date(2026, 11, 20)
LEARNERS = [
    # learner_id, email, course_id, cohort, region, device, plan, price, age_band, gender, enrolled_on
    (
        "raw-learner-0001",
        "ann@example.org",
        "C1",
        "2026a",
        "north",
        "ios",
        "paid",
        "9.5",
        "18-24",
        "f",
        "2026-11-01",
    ),
    ("raw-learner-0002", "bob@example.org", "C1", "2026a", "south", "web", "free", "", "", "", "2026-11-22"),
    (
        "raw-learner-0003",
        "cat@example.org",
        "C1",
        "2026b",
        "north",
        "web",
        "free",
        "0",
        "25-34",
        "m",
        "2026-11-01",
    ),
    (
        "raw-learner-0004",
        "dan@example.org",
        "C1",
        "2026b",
        "east",
        "android",
        "free",
        "0",
        "",
        "m",
        "2026-12-31",
    ),
]
OUTCOMES = [
    ("raw-learner-0001", "C1", "0", "", "81"),
    ("raw-learner-0002", "C1", "1", "", ""),
    ("raw-learner-0003", "C1", "1", "", "12.5"),
    ("raw-learner-0004", "C1", "0", "", ""),
]
PERSONAL = ["raw-learner-000", "@example.org", "10.1.2.", "device-"]


def event(eid: str, learner: str, ts: str, etype: str, **extra: object) -> dict:
    n = learner[-1]
    record = {"event_id": eid, "learner_id": learner, "course_id": "C1", "ts": ts, "event_type": etype}
    record.update({"email": f"x{n}@example.org", "ip": f"10.1.2.{n}", "device_id": f"device-{n}"})
    record.update(extra)
    return record


def write_jsonl(root: Path, day: dt.date, name: str, records: list) -> Path:
    path = root / "landing" / day.isoformat() / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_csv(root: Path, day: dt.date, name: str, records: list[dict]) -> Path:
    path = root / "landing" / day.isoformat() / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(EVENT_FIELDS), lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: (str(v).lower() if isinstance(v, bool) else v) for k, v in r.items()})
    return path


def write_tables(root: Path, learners=LEARNERS, outcomes=OUTCOMES, extra_learner_lines: str = "") -> None:
    (root / "landing").mkdir(parents=True, exist_ok=True)
    with (root / "learners.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            [
                "learner_id",
                "email",
                "course_id",
                "cohort",
                "region",
                "device",
                "plan",
                "price",
                "age_band",
                "gender",
                "enrolled_on",
            ]
        )
        w.writerows(learners)
        fh.write(extra_learner_lines)
    with (root / "outcomes.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["learner_id", "course_id", "dropped_out", "churned", "final_score"])
        w.writerows(outcomes)


def run(root: Path, *, window_days: int = 4, span: int = 0, mode: str = "training", key: bytes = KEY, **kw):
    return ingest_span(
        root / "landing",
        root / "learners.csv",
        root / "outcomes.csv",
        first_day=D0,
        span=span,
        window_days=window_days,
        key=key,
        mode=mode,
        threads=1,
        **kw,
    )


def by_learner(examples, raw_id: str, key: bytes = KEY) -> dict:
    rows = [r for r in examples.to_pylist() if r[LEARNER_KEY] == pseudonym(raw_id, key)]
    assert len(rows) == 1, f"expected one example for {raw_id}, found {len(rows)}"
    return rows[0]


AGG_EVENTS_D0 = [
    event("a1", "raw-learner-0001", "2026-11-20T08:00:00Z", "login", duration_s=100),
    event("a2", "raw-learner-0001", "2026-11-20T08:01:00Z", "video_play", duration_s=200),
    event("a3", "raw-learner-0001", "2026-11-20T08:02:00Z", "video_play"),
    event("a4", "raw-learner-0001", "2026-11-20T08:03:00Z", "video_complete"),
    event("a5", "raw-learner-0001", "2026-11-20T08:04:00Z", "quiz_submit", correct=False, attempt=1),
    event("a6", "raw-learner-0001", "2026-11-20T08:05:00Z", "quiz_submit", correct=True, attempt=2),
    event("a7", "raw-learner-0001", "2026-11-20T08:06:00Z", "forum_post"),
    event("a8", "raw-learner-0001", "2026-11-20T08:07:00Z", "forum_reply"),
    event("a9", "raw-learner-0001", "2026-11-20T08:08:00Z", "resource_download"),
    event("a10", "raw-learner-0001", "2026-11-20T08:09:00Z", "explanation_view", duration_s=60),
    event("a11", "raw-learner-0001", "2026-11-20T08:10:00Z", "forum_like"),
]
AGG_EVENTS_D2 = [
    # 01:30 at +01:00 is 00:30 UTC on the 22nd: inside the landing day once normalised.
    event("b1", "raw-learner-0001", "2026-11-22T01:30:00+01:00", "login"),
    event("b2", "raw-learner-0001", "2026-11-22T09:00:00Z", "video_complete"),
    event("b3", "raw-learner-0002", "2026-11-22T10:00:00Z", "login", duration_s=50),
]
AGG_EVENTS_D3 = [
    event("c1", "raw-learner-0002", "2026-11-23T10:00:00Z", "page_view", duration_s=30),
    event("c2", "raw-learner-0002", "2026-11-23T11:00:00Z", "purchase", amount=12.5),
]


@pytest.fixture()
def agg_root(tmp_path: Path) -> Path:
    write_tables(tmp_path)
    write_jsonl(tmp_path, D0, "events", AGG_EVENTS_D0)
    write_jsonl(tmp_path, D0 + dt.timedelta(days=2), "events", AGG_EVENTS_D2)
    write_jsonl(tmp_path, D0 + dt.timedelta(days=3), "events", AGG_EVENTS_D3)
    return tmp_path


def test_daily_features_by_hand(agg_root: Path) -> None:
    result = run(agg_root)
    assert result.counts["accepted"] == 16 and result.counts["quarantined"] == 0
    ann = by_learner(result.examples, "raw-learner-0001")
    assert ann["logins"] == [1.0, 0.0, 1.0, 0.0]
    assert ann["video_completion_rate"] == [
        0.5,
        0.0,
        0.0,
        0.0,
    ]  # 1 of 2 plays; a completion without play is 0
    assert ann["quiz_submissions"] == [2.0, 0.0, 0.0, 0.0]
    assert ann["wrong_attempts"] == [1.0, 0.0, 0.0, 0.0]
    assert ann["forum_posts"] == [2.0, 0.0, 0.0, 0.0]  # post + reply, not the like
    assert ann["downloads"] == [1.0, 0.0, 0.0, 0.0]
    assert ann["mean_dwell_seconds"] == [120.0, 0.0, 0.0, 0.0]  # (100 + 200 + 60) / 3
    assert ann["explanation_watched"] == [1.0, 0.0, 0.0, 0.0]
    assert ann[ACTIVE_MASK_KEY] == [1.0, 0.0, 1.0, 0.0]
    assert ann[ENROLLED_MASK_KEY] == [1.0, 1.0, 1.0, 1.0]
    assert ann["price"] == pytest.approx(9.5) and ann["region"] == "north" and ann["gender"] == "f"
    assert ann[LABEL_KEY] == 0 and ann[SCORE_KEY] == pytest.approx(81.0)

    bob = by_learner(result.examples, "raw-learner-0002")  # enrolled mid-span, on day 2
    assert bob[ENROLLED_MASK_KEY] == [0.0, 0.0, 1.0, 1.0]
    assert bob[ACTIVE_MASK_KEY] == [0.0, 0.0, 1.0, 1.0]
    assert bob["logins"] == [0.0, 0.0, 1.0, 0.0]
    assert bob["mean_dwell_seconds"] == [0.0, 0.0, 50.0, 30.0]
    assert bob["quiz_submissions"] == [0.0] * 4
    assert bob["age_band"] == "unknown" and bob["gender"] == "unknown"  # empty fairness values
    assert bob["price"] == 0.0 and bob[SCORE_KEY] == -1.0 and bob[LABEL_KEY] == 1


def test_inactive_enrolled_learner_is_present_with_zeros(agg_root: Path) -> None:
    result = run(agg_root)
    cat = by_learner(result.examples, "raw-learner-0003")
    for name in sequence_keys():
        expected = [1.0] * 4 if name == ENROLLED_MASK_KEY else [0.0] * 4
        assert cat[name] == expected, name
    # Enrolled after the span's last day: no example, counted.
    assert pseudonym("raw-learner-0004", KEY) not in result.examples.column(LEARNER_KEY).to_pylist()
    assert result.counts["not_yet_enrolled"] == 1 and result.counts["examples"] == 3


def test_examples_schema(agg_root: Path) -> None:
    ex = run(agg_root).examples
    types = {f.name: str(f.type) for f in ex.schema}
    assert types[LEARNER_KEY] == "string" and types[SPAN_KEY] == "int64"
    for name in sequence_keys():
        assert types[name] == "list<item: float>"
        assert {len(v) for v in ex.column(name).to_pylist()} == {4}
    for name in (*CATEGORICAL_CONTEXT, *FAIRNESS_ATTRIBUTES):
        assert types[name] == "string"
    for name in NUMERIC_CONTEXT:
        assert types[name] == "float"
    assert types[LABEL_KEY] == "int64" and types[SCORE_KEY] == "float" and types[SPLIT_COLUMN] == "string"
    assert set(ex.column(SPAN_KEY).to_pylist()) == {0}


def test_serving_mode_keeps_every_enrolled_learner_without_labels(agg_root: Path) -> None:
    (agg_root / "outcomes.csv").unlink()
    result = ingest_span(
        agg_root / "landing",
        agg_root / "learners.csv",
        None,
        first_day=D0,
        span=0,
        window_days=4,
        key=KEY,
        mode="serving",
        threads=1,
    )
    names = result.examples.column_names
    assert LABEL_KEY not in names and SCORE_KEY not in names and SPLIT_COLUMN not in names
    assert result.examples.num_rows == 3 and result.counts["no_outcome"] == 0


def test_learner_without_outcome_is_counted_not_silently_dropped(tmp_path: Path) -> None:
    write_tables(tmp_path, outcomes=OUTCOMES[1:])
    write_jsonl(tmp_path, D0, "events", AGG_EVENTS_D0)
    result = run(tmp_path)
    assert result.counts["no_outcome"] == 1
    assert result.examples.num_rows == 2
    assert result.counts["accepted_without_example"] == len(AGG_EVENTS_D0)


QUARANTINE_LINES = [
    event("q1", "raw-learner-0001", "2026-11-20T08:00:00Z", "login"),  # 1 accepted
    "this is not json",  # 2
    {k: v for k, v in event("q3", "raw-learner-0001", "", "login").items() if k != "ts"},  # 3 no ts
    event("q4", "raw-learner-0001", "2026-13-01T00:00:00Z", "login"),  # 4
    event("q5", "raw-learner-0001", "2026-11-22T10:00:00Z", "login"),  # 5
    event("q6", "raw-learner-0001", "2026-11-20T09:00:00Z", "teleport"),  # 6
    event("q7", "raw-learner-0001", "2026-11-20T09:00:00Z", "video_play", duration_s=-5),  # 7
    event("q8", "raw-learner-0009", "2026-11-20T09:00:00Z", "login"),  # 8 not in learners.csv
    event("q1", "raw-learner-0001", "2026-11-20T10:00:00Z", "login"),  # 9 duplicate of line 1
    "[1, 2, 3]",  # 10 valid JSON, not an object
    "",  # 11 blank line
    event("q12", "raw-learner-0001", "2026-11-20T09:00:00Z", "quiz_submit", correct="maybe"),  # 12
    event("q13", "raw-learner-0001", "2026-11-20T09:00:00Z", "quiz_submit", attempt=0),  # 13
    event("q14", "raw-learner-0001", "2026-11-20T09:00:00Z", "purchase", amount="lots"),  # 14
    event("", "raw-learner-0001", "2026-11-20T09:00:00Z", "login"),  # 15 empty event_id
    event("q16", "raw-learner-0001", "ann@example.org", "login"),  # 16 personal data in ts
    event("q17", "raw-learner-0001", "2026-11-20", "login"),  # 17 a date is not a timestamp
]
EXPECTED_REASONS = {
    2: "invalid_record",
    3: "missing_field",
    4: "bad_timestamp",
    5: "out_of_window",
    6: "unknown_event_type",
    7: "bad_value",
    8: "unknown_learner",
    9: "duplicate",
    10: "invalid_record",
    11: "invalid_record",
    12: "bad_value",
    13: "bad_value",
    14: "bad_value",
    15: "missing_field",
    16: "bad_timestamp",
    17: "bad_timestamp",
}


@pytest.fixture()
def quarantine_root(tmp_path: Path) -> Path:
    write_tables(tmp_path)
    write_jsonl(tmp_path, D0, "events", QUARANTINE_LINES)
    return tmp_path


def test_each_reason_quarantines_its_record(quarantine_root: Path) -> None:
    result = run(quarantine_root)
    q = result.quarantine
    assert q.schema.equals(QUARANTINE_SCHEMA)
    got = dict(zip(q.column("line").to_pylist(), q.column("reason").to_pylist(), strict=True))
    assert got == EXPECTED_REASONS
    assert set(q.column("file").to_pylist()) == {"2026-11-20/events.jsonl"}
    assert set(q.column("landing_day").to_pylist()) == {"2026-11-20"}
    assert set(EXPECTED_REASONS.values()) == set(QUARANTINE_REASONS)
    details = dict(zip(q.column("line").to_pylist(), q.column("detail").to_pylist(), strict=True))
    assert details[4] == (
        "2026-11-20/events.jsonl line 4: timestamp '2026-13-01T00:00:00Z' is not an ISO-8601 date and time"
    )
    assert "required field 'ts'" in details[3] and "required field 'event_id'" in details[15]
    assert "2026-11-22T10:00:00Z, outside landing day 2026-11-20" in details[5]
    assert "'teleport'" in details[6]
    assert "duration_s '-5'" in details[7] and "correct 'maybe'" in details[12]
    assert "attempt '0'" in details[13] and "amount 'lots'" in details[14]
    assert pseudonym("raw-learner-0009", KEY) in details[8]
    assert "2026-11-20/events.jsonl line 1" in details[9]
    assert "<redacted>" in details[16]
    assert "not a JSON object" in details[10] and "empty line" in details[11]


def test_counts_reconcile(quarantine_root: Path) -> None:
    counts = run(quarantine_root).counts
    assert counts["input_records"] == len(QUARANTINE_LINES)
    assert counts["accepted"] == 1
    assert counts["quarantined"] == len(EXPECTED_REASONS)
    assert counts["input_records"] == counts["accepted"] + counts["quarantined"]
    assert set(counts["by_reason"]) == set(QUARANTINE_REASONS)
    assert counts["by_reason"]["bad_value"] == 4 and counts["by_reason"]["duplicate"] == 1
    day = counts["per_day"]["2026-11-20"]
    assert day == {
        "present": True,
        "files": 1,
        "ignored_files": 0,
        "input_records": 17,
        "accepted": 1,
        "quarantined": 16,
    }
    assert counts["per_day"]["2026-11-21"]["present"] is False


def test_write_reports(quarantine_root: Path, tmp_path: Path) -> None:
    result = run(quarantine_root)
    paths = result.write_reports(tmp_path / "reports")
    assert pq.read_table(paths["quarantine"]).num_rows == 16
    assert json.loads(paths["counts"].read_text())["quarantined"] == 16


def test_duplicates_keep_first_delivery_across_files_and_days(tmp_path: Path) -> None:
    write_tables(tmp_path)
    write_jsonl(tmp_path, D0, "a", [event("d1", "raw-learner-0001", "2026-11-20T08:00:00Z", "login")])
    write_jsonl(
        tmp_path,
        D0,
        "b",
        [
            event("d1", "raw-learner-0001", "2026-11-20T08:00:00Z", "login"),
            # A broken first delivery of d2 does not make its repaired re-delivery a duplicate.
            event("d2", "raw-learner-0001", "not-a-time", "login"),
            event("d2", "raw-learner-0001", "2026-11-20T09:00:00Z", "login"),
        ],
    )
    write_jsonl(
        tmp_path,
        D0 + dt.timedelta(days=1),
        "a",
        [
            event("d1", "raw-learner-0001", "2026-11-21T08:00:00Z", "login"),
            event("d2", "raw-learner-0001", "2026-11-21T09:00:00Z", "login"),
        ],
    )
    result = run(tmp_path)
    q = sorted(
        zip(
            result.quarantine.column("file").to_pylist(),
            result.quarantine.column("line").to_pylist(),
            result.quarantine.column("reason").to_pylist(),
            strict=True,
        )
    )
    assert q == [
        ("2026-11-20/b.jsonl", 1, "duplicate"),
        ("2026-11-20/b.jsonl", 2, "bad_timestamp"),
        ("2026-11-21/a.jsonl", 1, "duplicate"),
        ("2026-11-21/a.jsonl", 2, "duplicate"),
    ]
    ann = by_learner(result.examples, "raw-learner-0001")
    assert ann["logins"] == [2.0, 0.0, 0.0, 0.0]
    detail = result.quarantine.column("detail").to_pylist()[-1]
    assert "already delivered at 2026-11-20/b.jsonl line 3" in detail


@pytest.mark.parametrize(
    ("ts", "accepted"),
    [
        ("2026-11-19T23:45:00Z", True),  # exactly skew before the landing day
        ("2026-11-19T23:44:59Z", False),
        ("2026-11-21T00:15:00Z", True),  # exactly skew after
        ("2026-11-21T00:15:01Z", False),
        ("2026-11-20T00:50:00+01:00", True),  # 23:50 UTC the day before: tolerated
        ("2026-11-20T00:10:00+01:00", False),  # 23:10 UTC the day before: outside once normalised
        ("2026-11-20T23:50:00-01:00", False),  # 00:50 UTC the day after
        ("2026-11-20T23:10:00-01:00", True),  # 00:10 UTC the day after
    ],
)
def test_clock_skew_edges_and_offsets(tmp_path: Path, ts: str, accepted: bool) -> None:
    write_tables(tmp_path)
    write_jsonl(tmp_path, D0, "events", [event("s1", "raw-learner-0001", ts, "login")])
    result = run(tmp_path)
    assert result.counts["accepted"] == int(accepted)
    if accepted:  # a tolerated event counts for its landing day
        assert by_learner(result.examples, "raw-learner-0001")["logins"] == [1.0, 0.0, 0.0, 0.0]
    else:
        assert result.quarantine.column("reason").to_pylist() == ["out_of_window"]


def test_csv_and_jsonl_give_the_same_results(agg_root: Path, tmp_path: Path) -> None:
    csv_root = tmp_path / "csv"
    write_tables(csv_root)
    write_csv(csv_root, D0, "events", AGG_EVENTS_D0)
    write_csv(csv_root, D0 + dt.timedelta(days=2), "events", AGG_EVENTS_D2)
    write_csv(csv_root, D0 + dt.timedelta(days=3), "events", AGG_EVENTS_D3)
    from_jsonl, from_csv = run(agg_root), run(csv_root)
    assert from_csv.examples.equals(from_jsonl.examples)
    assert from_csv.counts["accepted"] == from_jsonl.counts["accepted"] == 16


def test_csv_quoting_field_count_and_header_line_numbers(tmp_path: Path) -> None:
    write_tables(tmp_path)
    path = tmp_path / "landing" / D0.isoformat() / "events.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "event_type,event_id,learner_id,course_id,ts,app_version\n"  # any column order, extra column
        'login,e1,raw-learner-0001,C1,2026-11-20T08:00:00Z,"3.2,beta"\n'
        "login,e2,raw-learner-0001,C1\n"
        '"video_play","e3","raw-learner-0001","C1","2026-11-20T09:00:00Z",""\n'
    )
    result = run(tmp_path)
    assert result.counts["input_records"] == 3 and result.counts["accepted"] == 2
    assert result.quarantine.column("line").to_pylist() == [3]
    assert result.quarantine.column("reason").to_pylist() == ["invalid_record"]
    assert "expected 6 fields as in the header, found 4" in result.quarantine.column("detail")[0].as_py()


def test_no_personal_data_in_any_output(quarantine_root: Path) -> None:
    write_jsonl(quarantine_root, D0 + dt.timedelta(days=1), "more", AGG_EVENTS_D0)
    result = run(quarantine_root)
    cells = [
        str(v)
        for table in (result.examples, result.quarantine)
        for col in table.columns
        for v in col.to_pylist()
    ]
    cells.append(json.dumps(result.counts))
    assert len(cells) > 100
    leaks = [c for c in cells for p in PERSONAL if p in c]
    assert leaks == []


def test_pseudonyms_deterministic_and_keyed(agg_root: Path) -> None:
    a, b = run(agg_root), run(agg_root)
    other = run(agg_root, key=b"another-key")
    keys = a.examples.column(LEARNER_KEY).to_pylist()
    assert keys == b.examples.column(LEARNER_KEY).to_pylist()
    assert set(keys).isdisjoint(other.examples.column(LEARNER_KEY).to_pylist())
    assert all(len(k) == 20 and int(k, 16) >= 0 for k in keys)
    assert pseudonym("raw-learner-0001", KEY) in keys


def test_split_is_deterministic_and_near_eval_fraction(tmp_path: Path) -> None:
    n = 400
    learners = [
        (f"raw-learner-{i:04d}", "", "C1", "c", "r", "web", "free", "0", "", "", "2026-11-01")
        for i in range(n)
    ]
    outcomes = [(f"raw-learner-{i:04d}", "C1", str(i % 2), "", "") for i in range(n)]
    write_tables(tmp_path, learners=learners, outcomes=outcomes)
    first, second = run(tmp_path, eval_fraction=0.25), run(tmp_path, eval_fraction=0.25)
    split = first.examples.column(SPLIT_COLUMN).to_pylist()
    assert split == second.examples.column(SPLIT_COLUMN).to_pylist()
    assert 0.18 < split.count("eval") / n < 0.32
    assert first.counts["split"] == {"train": split.count("train"), "eval": split.count("eval")}
    pseudonyms = np.array([pseudonym(f"id-{i}", KEY) for i in range(20000)], dtype=object)
    assert abs((eval_split(pseudonyms, 0.2) == "eval").mean() - 0.2) < 0.01


def test_other_window_and_later_span(tmp_path: Path) -> None:
    write_tables(tmp_path)
    day4 = D0 + dt.timedelta(days=4)
    write_jsonl(tmp_path, day4, "events", [event("w1", "raw-learner-0001", "2026-11-24T08:00:00Z", "login")])
    result = run(tmp_path, window_days=3, span=1)  # days 2026-11-23 .. 2026-11-25
    ann = by_learner(result.examples, "raw-learner-0001")
    assert ann["logins"] == [0.0, 1.0, 0.0]
    assert set(result.examples.column(SPAN_KEY).to_pylist()) == {1}
    assert list(result.counts["per_day"]) == ["2026-11-23", "2026-11-24", "2026-11-25"]
    # span 0 (2026-11-20 .. 22) does not see that day
    assert run(tmp_path, window_days=3, span=0).counts["input_records"] == 0


def test_malformed_learner_rows_are_counted(tmp_path: Path) -> None:
    bad = (
        ",x@example.org,C1,c,r,web,free,0,,,2026-11-01\n"  # missing id
        "raw-learner-0007,,C1,c,r,web,free,0,,,2026-02-30\n"  # no such date
        "raw-learner-0008,,C1,c,r,web,free,cheap,,,2026-11-01\n"
        "raw-learner-0001,,C1,c,r,web,free,0,,,2026-11-01\n"  # duplicate of an earlier row
        "raw-learner-0009,too,few\n"
    )
    write_tables(tmp_path, extra_learner_lines=bad)
    counts = run(tmp_path).counts
    assert counts["learner_rows_rejected"] == {
        "malformed_row": 1,
        "missing_id": 1,
        "bad_enrolled_on": 1,
        "bad_price": 1,
        "duplicate_row": 1,
    }
    assert counts["learners"] == 4


def test_missing_learner_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"learner table not found at .*learners\.csv"):
        run(tmp_path)


def test_missing_landing_root_is_a_clear_error(tmp_path: Path) -> None:
    write_tables(tmp_path)
    (tmp_path / "landing").rmdir()
    with pytest.raises(FileNotFoundError, match=r"landing root .*landing does not exist"):
        run(tmp_path)


def test_bad_utf8_empty_files_and_unread_suffixes(tmp_path: Path) -> None:
    write_tables(tmp_path)
    day_dir = tmp_path / "landing" / D0.isoformat()
    day_dir.mkdir()
    good = json.dumps(event("u1", "raw-learner-0001", "2026-11-20T08:00:00Z", "login")).encode()
    (day_dir / "a.jsonl").write_bytes(good + b"\n" + good.replace(b"u1", b"u\xff2") + b"\n")
    (day_dir / "b.jsonl").write_bytes(b"")
    (day_dir / "c.csv").write_text(",".join(EVENT_FIELDS) + "\n")
    (day_dir / "d.json").write_text("{}")
    result = run(tmp_path)
    assert result.counts["input_records"] == 2 and result.counts["accepted"] == 1
    assert result.quarantine.column("detail").to_pylist() == [
        "2026-11-20/a.jsonl line 2: not valid UTF-8; record quarantined"
    ]
    assert result.counts["per_day"]["2026-11-20"]["files"] == 3
    assert result.counts["per_day"]["2026-11-20"]["ignored_files"] == 1


def test_missing_days_mean_inactivity(tmp_path: Path) -> None:
    write_tables(tmp_path)
    result = run(tmp_path)
    assert result.counts["input_records"] == 0 and result.examples.num_rows == 3
    assert not any(d["present"] for d in result.counts["per_day"].values())
    assert all(sum(v) == 0 for v in result.examples.column(ACTIVE_MASK_KEY).to_pylist())


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_reconciles_exactly_with_the_generator_manifest(tmp_path: Path, fmt: str) -> None:
    """The generator injects each fault on purpose and counts it; ingestion must find exactly those."""
    generator = pytest.importorskip("lab.generator")
    config = generator.GeneratorConfig(
        learners=40,
        days=3,
        seed=5,
        format=fmt,
        malformed_rate=0.05,
        duplicate_rate=0.05,
        clock_skew_rate=0.05,
        first_day=D0.isoformat(),
    )
    manifest = generator.generate(tmp_path, config)
    result = ingest_span(
        tmp_path / "landing",
        tmp_path / "learners.csv",
        tmp_path / "outcomes.csv",
        first_day=D0,
        span=0,
        window_days=3,
        key=KEY,
        threads=1,
    )
    assert result.counts["input_records"] == manifest.lines_total
    assert result.counts["accepted"] == manifest.valid_events
    assert result.counts["by_reason"] == manifest.injected
    cells = [str(v) for t in (result.examples, result.quarantine) for c in t.columns for v in c.to_pylist()]
    cells.append(json.dumps(result.counts))
    leaks = [(name, c) for c in cells for name, p in generator.RAW_ID_PATTERNS.items() if p.search(c)]
    assert leaks == []
