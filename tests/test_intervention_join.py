"""Interventions and outcomes joined into examples, point in time (``dropout.ingestion.interventions``).

The store is a real ``risk.sqlite`` written by the early-warning job's own writer
(``dropout.feedback.store``); bad rows are inserted with plain SQL, as a damaged or hand-edited store
would hold them. One module fixture: 30 generated learners over 10 days and one store.
"""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3

import numpy as np
import pytest

from dropout.contract import features as F
from dropout.feedback import store
from dropout.ingestion import ingest_span
from dropout.ingestion.interventions import REJECT_REASONS, intervention_context, load_store
from dropout.ingestion.pseudonymise import pseudonym
from dropout.warning.examples import serving_examples
from lab.generator import GeneratorConfig, generate

KEY = b"intervention-join-test-key"
WINDOW = 10
FIRST = dt.date(2026, 9, 1)
D = FIRST + dt.timedelta(days=WINDOW - 1)  # the window's last landing day


def _day(offset: int) -> str:
    return (D + dt.timedelta(days=offset)).isoformat()


def _send(con, run_id, learner, course, acted, actions=("email_learner",), status="sent"):
    for action in actions:
        store.record_intervention(
            con,
            run_id=run_id,
            learner=learner,
            course_id=course,
            band="high",
            action=action,
            status=status,
            detail="",
            acted_at=acted,
            outcome_due=acted,
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Generated data, the learners the store speaks about, and the store itself."""
    root = tmp_path_factory.mktemp("join")
    generate(root / "data", GeneratorConfig(learners=30, days=WINDOW, seed=11, first_day=FIRST.isoformat()))
    with (root / "data" / "learners.csv").open(newline="") as fh:
        learners = [r for r in csv.DictReader(fh) if r["enrolled_on"] <= FIRST.isoformat()]
    with (root / "data" / "outcomes.csv").open(newline="") as fh:
        labelled = {(r["learner_id"], r["course_id"]) for r in csv.DictReader(fh)}
    learners = [r for r in learners if (r["learner_id"], r["course_id"]) in labelled]
    assert len(learners) >= 6, "the generator should enrol most learners before the first day"
    who = {
        name: (pseudonym(r["learner_id"], KEY), r["course_id"], r["learner_id"])
        for name, r in zip(
            ("came_back", "late_send", "late_outcome", "failed", "stayed_away", "quiet"),
            learners,
            strict=False,
        )
    }

    db = store.store_path(root / "warning")
    con = store.connect(db)
    p, c, _ = who["came_back"]
    _send(con, "r1", p, c, _day(-6), actions=("email_learner", "webhook"))  # one intervention, two actions
    store.set_outcome(con, "r1", p, c, True, _day(-2))
    _send(con, "r2", p, c, _day(0))  # sent on D itself: counts; its outcome is not known yet
    p, c, _ = who["late_send"]
    _send(con, "r3", p, c, _day(1))  # sent after the window: not known at D
    p, c, _ = who["late_outcome"]
    _send(con, "r1", p, c, _day(-6))
    store.set_outcome(con, "r1", p, c, False, _day(2))  # checked after D: the outcome would leak the label
    p, c, _ = who["failed"]
    _send(con, "r1", p, c, _day(-6), status="failed")
    p, c, _ = who["stayed_away"]
    _send(con, "r1", p, c, _day(-8))
    store.set_outcome(con, "r1", p, c, False, _day(-3))
    _send(con, "r2", p, c, _day(-1))
    store.set_outcome(con, "r2", p, c, True, _day(1))  # the later one is unknown at D: the earlier one counts
    _send(con, "r1", pseudonym("someone-else", KEY), "C-OTHER", _day(-6))  # not in the learner table
    bad = [
        ("r9", who["quiet"][2], who["quiet"][1], "sent", _day(-4), None, None),  # a raw id, not a pseudonym
        ("r9", "", "C-X", "sent", _day(-4), None, None),
        ("r9", p, c, "queued", _day(-4), None, None),
        ("r9", p, c, "sent", "yesterday", None, None),
        ("r9", p, c, "sent", _day(-4), 7, _day(-3)),
        ("r9", p, c, "sent", _day(-4), 1, None),
        ("r9", p, c, "sent", _day(-4), 1, _day(-5)),  # checked before it was sent
    ]
    with con:
        for i, (run, lr, course, status, acted, back, checked) in enumerate(bad):
            con.execute(
                "INSERT INTO interventions VALUES (?, ?, ?, 'high', ?, ?, '', ?, ?, ?, ?)",
                (run, lr, course, f"bad{i}", status, acted, acted, back, checked),
            )
    con.close()
    training = ingest_span(
        root / "data" / "landing",
        root / "data" / "learners.csv",
        root / "data" / "outcomes.csv",
        first_day=FIRST,
        span=0,
        window_days=WINDOW,
        key=KEY,
        threads=1,
        interventions_db=db,
    )
    return {"root": root, "db": db, "who": who, "training": training}


def _by_key(table) -> dict[tuple[str, str], tuple[float, float]]:
    d = table.to_pydict() if hasattr(table, "to_pydict") else table
    return {
        (str(lr), str(c)): (float(n), float(o))
        for lr, c, n, o in zip(
            d[F.LEARNER_KEY],
            d["course_id"],
            d[F.INTERVENTIONS_KEY],
            d[F.INTERVENTION_OUTCOME_KEY],
            strict=True,
        )
    }


EXPECTED = {
    "came_back": (2.0, 1.0),
    "late_send": (0.0, -1.0),
    "late_outcome": (1.0, -1.0),
    "failed": (0.0, -1.0),
    "stayed_away": (2.0, 0.0),
    "quiet": (0.0, -1.0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_point_in_time_values_in_training_examples(world, name):
    p, course, _ = world["who"][name]
    assert _by_key(world["training"].examples)[(p, course)] == EXPECTED[name]


def test_everyone_else_gets_no_interventions_and_unknown_outcome(world):
    named = {(p, c) for p, c, _ in world["who"].values()}
    others = {k: v for k, v in _by_key(world["training"].examples).items() if k not in named}
    assert others and set(others.values()) == {(0.0, -1.0)}


def test_counts_reconcile_with_one_reason_per_rejected_row(world):
    counts = world["training"].counts["interventions"]
    assert counts["store"] == "read"
    assert (
        counts["rows"]
        == 9 + 7
        == (
            sum(counts["rejected"].values())
            + counts["not_sent"]
            + counts["after_window"]
            + counts["unknown_learner"]
            + counts["joined"]
        )
    )
    assert counts["rejected"] == dict.fromkeys(REJECT_REASONS, 0) | {
        "not_a_pseudonym": 1,
        "missing_id": 1,
        "bad_status": 1,
        "bad_acted_at": 1,
        "bad_came_back": 1,
        "bad_outcome_checked_at": 2,
    }
    assert len(counts["rejected_rowids"]) == 7
    assert (counts["not_sent"], counts["after_window"], counts["unknown_learner"]) == (1, 1, 1)
    assert counts["joined"] == 6  # came_back 3 rows (2 actions of r1, r2), late_outcome 1, stayed_away 2
    assert counts["outcome_after_window"] == 2  # late_outcome's r1 and stayed_away's r2
    assert (counts["learners_intervened"], counts["learners_with_outcome"]) == (3, 2)
    assert (counts["examples_intervened"], counts["examples_with_outcome"]) == (3, 2)


def test_examples_carry_pseudonyms_only(world):
    examples = world["training"].examples.to_pydict()
    raw = {raw_id for _, _, raw_id in world["who"].values()}
    assert all(len(p) == 20 and int(p, 16) >= 0 for p in examples[F.LEARNER_KEY])
    assert not raw & {str(v) for column in examples.values() for v in column}


def test_serving_sees_the_same_values_as_training(world):
    columns, counts = serving_examples(
        world["root"] / "data", KEY, WINDOW, as_of=D, interventions_db=world["db"]
    )
    serving = _by_key(columns)
    training = _by_key(world["training"].examples)
    shared = serving.keys() & training.keys()
    assert {(p, c) for p, c, _ in world["who"].values()} <= shared
    assert {k: serving[k] for k in shared} == {k: training[k] for k in shared}
    assert columns[F.INTERVENTIONS_KEY].dtype == np.float32 and counts["interventions"]["joined"] == 6


def test_a_later_window_sees_what_happened_since(world):
    """Two days later the late send counts and both late outcomes are known."""
    p, c = (
        np.array([v[0] for v in world["who"].values()], dtype=object),
        np.array([v[1] for v in world["who"].values()], dtype=object),
    )
    rows, _ = load_store(world["db"])
    sent, outcome, _ = intervention_context(rows, D + dt.timedelta(days=2), p, c)
    got = dict(zip(world["who"], zip(sent.tolist(), outcome.tolist(), strict=True), strict=True))
    assert got == {
        "came_back": (2, 1),
        "late_send": (1, -1),
        "late_outcome": (1, 0),
        "failed": (0, -1),
        "stayed_away": (2, 1),
        "quiet": (0, -1),
    }
    rows, _ = load_store(world["db"])
    sent, outcome, _ = intervention_context(rows, D, p, c)
    at_d = dict(zip(world["who"], zip(sent.tolist(), outcome.tolist(), strict=True), strict=True))
    assert at_d["stayed_away"] == (2, 0)


def test_missing_store_means_no_interventions(world, tmp_path):
    result = ingest_span(
        world["root"] / "data" / "landing",
        world["root"] / "data" / "learners.csv",
        None,
        first_day=FIRST,
        span=0,
        window_days=WINDOW,
        key=KEY,
        threads=1,
        mode="serving",
        interventions_db=tmp_path / "nowhere" / "risk.sqlite",
    )
    assert set(_by_key(result.examples).values()) == {(0.0, -1.0)}
    assert (
        result.counts["interventions"]["store"] == "missing" and result.counts["interventions"]["rows"] == 0
    )


def test_store_without_table_reads_as_empty_and_garbage_fails_clearly(tmp_path):
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    rows, state = load_store(empty)
    assert (
        state == "read" and len(rows) == 0 and len(store.read_interventions(sqlite3.connect(":memory:"))) == 0
    )
    garbage = tmp_path / "risk.sqlite"
    garbage.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(
        ValueError, match=r"early-warning store .*risk\.sqlite: cannot read table 'interventions'"
    ):
        load_store(garbage)
