"""OULAD adapter and point-in-time evaluation on a real slice (tests/fixtures/oulad: 47 students).

Fixture data: Kuzilek J., Hlosta M., Zdrahal Z., Open University Learning Analytics dataset,
Scientific Data 4, 170171 (2017), CC BY 4.0. Expected values are computed here from the raw
fixture CSVs with the csv module, independently of the adapter's pandas code.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dropout.contract import features as F
from dropout.ingestion import ingest_span
from lab.oulad import evaluation as ev
from lab.oulad import mapping as oulad

FIXTURE = Path(__file__).parent / "fixtures" / "oulad"
KEY = b"oulad-test-key"
DAY0 = dt.date(2020, 1, 6)
CUTOFF = 28  # 4 weeks


def raw(name: str) -> list[dict[str, str]]:
    path = next(FIXTURE.glob(f"{name}*.csv.gz"))
    with gzip.open(path, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


def course(row: dict[str, str]) -> str:
    return f"{row['code_module']}-{row['code_presentation']}"


def selected_submissions() -> list[dict[str, str]]:
    """studentAssessment rows of the selected presentations."""
    where = {r["id_assessment"]: course(r) for r in raw("assessments")}
    return [r for r in raw("studentAssessment") if where[r["id_assessment"]] in oulad.DEFAULT_PRESENTATIONS]


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    out = tmp_path_factory.mktemp("oulad") / "data"
    mapping, report = oulad.convert(FIXTURE, out, day0=DAY0)
    return mapping, report, out


@pytest.fixture(scope="module")
def span(mapped):
    """Our ingestion over presentation days [-28, 28) of the adapter's landing output."""
    _, _, out = mapped
    return ingest_span(
        out / "landing",
        out / "learners.csv",
        out / "outcomes.csv",
        first_day=DAY0 - dt.timedelta(days=ev.PRE_DAYS),
        span=0,
        window_days=ev.PRE_DAYS + CUTOFF,
        key=KEY,
        threads=1,
    )


def test_every_input_row_is_mapped_or_counted_with_a_reason(mapped):
    mapping, report, _ = mapped
    for table, name in [
        ("studentInfo", "studentInfo"),
        ("studentRegistration", "studentRegistration"),
        ("studentVle", "studentVle_"),
        ("studentAssessment", "studentAssessment"),
    ]:
        r = report[table]
        assert r["input_rows"] == len(raw(name)), table
        assert r["input_rows"] == r["mapped"] + sum(r["unmapped"].values()), table
        assert set(r["unmapped"]) == set(oulad.UNMAPPED_REASONS)
    # The fixture holds four learners of presentations not selected (BBB 2013J/2014J, CCC 2014B) and
    # the one learner of the selected ones without a registration date.
    other = [r for r in raw("studentInfo") if course(r) not in oulad.DEFAULT_PRESENTATIONS]
    assert report["studentInfo"]["unmapped"]["other_presentation"] == len(other) == 4
    assert report["studentInfo"]["unmapped"]["missing_registration_date"] == 1
    assert report["studentInfo"]["mapped"] == 42
    banked = sum(1 for r in selected_submissions() if r["is_banked"] == "1")
    assert report["studentAssessment"]["unmapped"]["banked_assessment"] == banked
    # One event per click, per scored-or-not submission, per unregistration.
    clicks = sum(int(r["sum_click"]) for r in raw("studentVle_"))
    unreg = sum(
        1
        for r in raw("studentRegistration")
        if r["date_unregistration"] and r["date_registration"] and course(r) in oulad.DEFAULT_PRESENTATIONS
    )
    assert report["events"]["clicks"] == clicks
    assert report["events"]["unregistrations"] == unreg
    assert len(mapping.events) == clicks + report["studentAssessment"]["mapped"] + unreg
    assert mapping.events["event_id"].is_unique


def test_unmappable_rows_are_counted_per_reason():
    tables = oulad.read_tables(FIXTURE)
    vle = tables["studentVle"]
    first = vle.iloc[0].to_dict()
    bad = pd.DataFrame(
        [
            {**first, "id_site": "999999999"},  # not in vle.csv
            {**first, "id_site": "888888888"},  # in vle.csv with an unknown activity type
            {**first, "sum_click": "lots"},
            {**first, "id_student": "123"},  # no studentInfo row
        ]
    )
    tables["studentVle"] = pd.concat([vle, bad], ignore_index=True)
    site = tables["vle"].iloc[0].to_dict()
    tables["vle"] = pd.concat(
        [tables["vle"], pd.DataFrame([{**site, "id_site": "888888888", "activity_type": "hologram"}])]
    )
    sa = tables["studentAssessment"]
    tables["studentAssessment"] = pd.concat(
        [sa, pd.DataFrame([{**sa.iloc[0].to_dict(), "id_assessment": "1"}])]
    )
    mapping = oulad.map_oulad(tables)
    unmapped = mapping.report["studentVle"]["unmapped"]
    assert unmapped["unknown_site"] == 1
    assert unmapped["unknown_activity_type"] == 1
    assert unmapped["bad_value"] == 1
    assert unmapped["unknown_learner"] == 1
    assert mapping.report["studentVle"]["mapped"] == len(vle)
    assert mapping.report["studentAssessment"]["unmapped"]["unknown_assessment"] == 1
    assert "hologram" not in set(mapping.clicks["activity_type"])


def test_labels_follow_final_result(mapped):
    mapping, _, out = mapped
    truth = {
        (r["id_student"], f"{r['code_module']}-{r['code_presentation']}"): r["final_result"]
        for r in raw("studentInfo")
    }
    info = mapping.info
    assert len(info) == 42
    for row in info.itertuples():
        result = truth[(row.learner_id, row.course_id)]
        assert row.dropped_out == int(result == "Withdrawn")
        assert row.at_risk == int(result in ("Withdrawn", "Fail"))
    outcomes = pd.read_csv(out / "outcomes.csv", dtype=str)
    assert sorted(outcomes["dropped_out"].astype(int)) == sorted(info["dropped_out"])
    assert {"Withdrawn", "Fail", "Pass"} <= set(info["final_result"])


def test_activity_types_become_the_documented_event_types(mapped):
    mapping, _, _ = mapped
    site_type = {r["id_site"]: r["activity_type"] for r in raw("vle")}
    expected: Counter[str] = Counter()
    for r in raw("studentVle_"):
        expected[oulad.ACTIVITY_EVENT_TYPES[site_type[r["id_site"]]]] += int(r["sum_click"])
    scored = [r for r in selected_submissions() if r["is_banked"] != "1"]
    expected["quiz_submit"] += len(scored)
    got = Counter(mapping.events.loc[~mapping.events["event_id"].str.contains("-u"), "event_type"])
    assert got == expected
    subs = mapping.events[mapping.events["event_id"].str.contains("-a")]
    fails = sum(1 for r in scored if r["score"] and float(r["score"]) < 40)
    assert (subs["correct"] == "false").sum() == fails


def test_cutoff_leaves_out_learners_who_already_unregistered(mapped):
    mapping, _, _ = mapped
    reg = {
        (r["id_student"], f"{r['code_module']}-{r['code_presentation']}"): r
        for r in raw("studentRegistration")
    }
    learners = ev.cohort(mapping.info, CUTOFF)
    kept = set(zip(learners["learner_id"], learners["course_id"], strict=True))
    gone_early = {
        k for k, r in reg.items() if r["date_unregistration"] and int(r["date_unregistration"]) < CUTOFF
    }
    assert gone_early, "the fixture has learners who unregistered before week 4"
    assert not kept & gone_early
    late = {
        k
        for k, r in reg.items()
        if r["date_unregistration"]
        and int(r["date_unregistration"]) >= CUTOFF
        and r["date_registration"]
        and int(r["date_registration"]) < CUTOFF
        and k[1] in oulad.DEFAULT_PRESENTATIONS
    }
    assert late and late <= kept
    assert set(learners["split"]) == {"train", "eval"}
    assert set(learners.loc[learners["split"] == "eval", "course_id"]) == {"AAA-2014J"}
    # The adapter's own cutoff mode counts them (and everything after the cutoff) instead.
    cut = oulad.map_oulad(oulad.read_tables(FIXTURE), cutoff_day=CUTOFF)
    assert cut.report["studentInfo"]["unmapped"]["unregistered_before_cutoff"] == len(
        {k for k in gone_early if k[1] in oulad.DEFAULT_PRESENTATIONS and reg[k]["date_registration"]}
    )
    assert cut.events["day"].max() < CUTOFF
    assert cut.report["studentVle"]["unmapped"]["after_cutoff"] > 0


def test_no_day_after_the_cutoff_reaches_the_features(mapped, span):
    mapping, _, _ = mapped
    learners = ev.cohort(mapping.info, CUTOFF)
    before = ev.hand_features(mapping, learners, CUTOFF)
    # Inflate every click on or after the cutoff: features must not move.
    changed = oulad.OuladMapping(**{**mapping.__dict__})
    changed.clicks = mapping.clicks.assign(
        sum_click=np.where(
            mapping.clicks["day"] >= CUTOFF, mapping.clicks["sum_click"] * 100, mapping.clicks["sum_click"]
        )
    )
    pd.testing.assert_frame_equal(before, ev.hand_features(changed, learners, CUTOFF))
    # The ingested sequence covers exactly days [-28, 28): its events are the landing events of those days.
    in_window = mapping.events[(mapping.events["day"] >= -ev.PRE_DAYS) & (mapping.events["day"] < CUTOFF)]
    assert span.counts["input_records"] == len(in_window)
    assert span.counts["last_landing_day"] == (DAY0 + dt.timedelta(days=CUTOFF - 1)).isoformat()
    width = {len(v) for v in span.examples.column("logins").to_pylist()}
    assert width == {ev.PRE_DAYS + CUTOFF}


def test_raw_student_ids_never_reach_ingested_output(mapped, span):
    mapping, _, _ = mapped
    raw_ids = {r["id_student"] for r in raw("studentInfo")}
    table = span.examples
    learner_keys = set(table.column(F.LEARNER_KEY).to_pylist())
    pairs = set(
        zip(table.column(F.LEARNER_KEY).to_pylist(), table.column("course_id").to_pylist(), strict=True)
    )
    assert len(pairs) == table.num_rows > 30
    assert not learner_keys & raw_ids
    text = " ".join(
        str(v)
        for t in (table, span.quarantine)
        for c in t.column_names
        if t.schema.field(c).type == "string"
        for v in t.column(c).to_pylist()
    )
    tokens = set(text.replace(",", " ").replace(":", " ").split())
    assert not tokens & raw_ids


def test_hand_built_features_match_a_hand_checked_learner(mapped):
    mapping, _, _ = mapped
    learners = ev.cohort(mapping.info, CUTOFF)
    site_type = {r["id_site"]: r["activity_type"] for r in raw("vle")}
    clicks_by: dict[tuple[str, str], list[tuple[int, str, int]]] = defaultdict(list)
    for r in raw("studentVle_"):
        key = (r["id_student"], f"{r['code_module']}-{r['code_presentation']}")
        clicks_by[key].append((int(r["date"]), site_type[r["id_site"]], int(r["sum_click"])))
    # The kept learner with the most clicks before the cutoff, and one without any.
    counts = {
        k: sum(c for d, _, c in clicks_by.get(k, []) if -ev.PRE_DAYS <= d < CUTOFF)
        for k in zip(learners["learner_id"], learners["course_id"], strict=True)
    }
    busy = max(counts, key=counts.get)
    feats = ev.hand_features(mapping, learners, CUTOFF)
    i = int(np.flatnonzero((learners["learner_id"] == busy[0]) & (learners["course_id"] == busy[1]))[0])
    rows = [(d, t, c) for d, t, c in clicks_by[busy] if -ev.PRE_DAYS <= d < CUTOFF]
    assert feats.loc[i, "total_clicks"] == sum(c for _, _, c in rows) > 0
    assert feats.loc[i, "clicks_w0"] == sum(c for d, _, c in rows if 0 <= d < 7)
    assert feats.loc[i, "clicks_w-1"] == sum(c for d, _, c in rows if -7 <= d < 0)
    assert feats.loc[i, "clicks_homepage"] == sum(c for _, t, c in rows if t == "homepage")
    assert feats.loc[i, "active_days"] == len({d for d, _, _ in rows})
    assert feats.loc[i, "days_since_active"] == CUTOFF - max(d for d, _, _ in rows)
    weekly = [c for c in feats.columns if c.startswith("clicks_w")]
    assert len(weekly) == ev.PRE_DAYS // 7 + CUTOFF // 7
    idle = [k for k, v in counts.items() if v == 0]
    if idle:
        j = int(
            np.flatnonzero((learners["learner_id"] == idle[0][0]) & (learners["course_id"] == idle[0][1]))[0]
        )
        assert feats.loc[j, "total_clicks"] == 0 and feats.loc[j, "days_since_active"] == ev.PRE_DAYS + CUTOFF


def test_ingestion_accepts_the_adapter_output_unchanged(mapped, span):
    mapping, _, out = mapped
    assert span.counts["quarantined"] == 0, span.counts["by_reason"]
    assert span.counts["accepted"] == span.counts["input_records"] > 0
    learners = pd.read_csv(out / "learners.csv", dtype=str)
    enrolled = (
        pd.to_datetime(learners["enrolled_on"]) <= pd.Timestamp(DAY0 + dt.timedelta(days=CUTOFF - 1))
    ).sum()
    assert span.counts["examples"] == enrolled
    # Logins per learner are the homepage clicks of the window, through the same pseudonym.
    c = mapping.clicks
    homepage = c[(c["activity_type"] == "homepage") & (c["day"] >= -ev.PRE_DAYS) & (c["day"] < CUTOFF)]
    expected = homepage.groupby(["learner_id", "course_id"])["sum_click"].sum()
    learners_cohort = ev.cohort(mapping.info, CUTOFF)
    arrays, _ = ev.sequence_examples(out, learners_cohort, CUTOFF, KEY, day0=DAY0, threads=1)
    got = arrays["logins"].sum(axis=1)
    for i, row in enumerate(learners_cohort.itertuples()):
        assert got[i] == expected.get((row.learner_id, row.course_id), 0)
    # The active mask marks exactly the days with a click or a submission.
    ev_days = mapping.events[(mapping.events["day"] >= -ev.PRE_DAYS) & (mapping.events["day"] < CUTOFF)]
    active_days = ev_days.groupby(["learner_id", "course_id"])["day"].nunique()
    assert [int(a) for a in arrays[F.ACTIVE_MASK_KEY].sum(axis=1)] == [
        int(active_days.get((r.learner_id, r.course_id), 0)) for r in learners_cohort.itertuples()
    ]


def test_metrics_and_thresholds_on_a_known_ranking():
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    risk = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.7, 0.9])
    m = ev.metrics(y, risk, threshold=0.8, chosen=ev.best_f1_threshold(y, risk))
    assert m["auc"] == 1.0 and m["precision_top10"] == 1.0
    assert m["recall_op"] == 0.5 and m["recall_chosen"] == 1.0 and m["f1_chosen"] == 1.0


def test_weekly_steps_sum_counts_and_keep_masks():
    days = 14
    arrays = {k: np.zeros((1, days), dtype=np.float32) for k in F.sequence_keys()}
    arrays["logins"][0, [0, 3, 9]] = [2, 1, 5]
    arrays["video_completion_rate"][0, [0, 3]] = [1.0, 0.5]
    arrays[F.ACTIVE_MASK_KEY][0, [0, 3, 9]] = 1
    arrays[F.ENROLLED_MASK_KEY][0, 5:] = 1
    weekly = ev.weekly_sequences(arrays)
    assert weekly["logins"].tolist() == [[3.0, 5.0]]
    assert weekly["video_completion_rate"].tolist() == [[0.75, 0.0]]
    assert weekly[F.ACTIVE_MASK_KEY].tolist() == [[1.0, 1.0]]
    assert weekly[F.ENROLLED_MASK_KEY].tolist() == [[1.0, 1.0]]
    with pytest.raises(ValueError, match="whole weeks"):
        ev.weekly_sequences({k: v[:, :10] for k, v in arrays.items()})


def test_auc_interval_narrows_with_more_positives():
    lo_small, hi_small = ev.auc_interval(0.7, 20, 200)
    lo_big, hi_big = ev.auc_interval(0.7, 200, 2000)
    assert lo_small < lo_big < 0.7 < hi_big < hi_small
    assert ev.auc_interval(float("nan"), 5, 10) != ev.auc_interval(float("nan"), 5, 10)  # NaN pair
