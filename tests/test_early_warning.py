"""The early-warning job on generated learners with a real exported model, a real SMTP server and a
real webhook receiver on loopback.

One module fixture: a small model exported with the Trainer's signatures
(``lab.fixture_model``), 14 days of generated landing data for other learners, one run
scoring days 1-10 (the threshold set between the 3rd and 4th highest risk so both bands occur), its
skew check against the training statistics of that span (as StatisticsGen computes them: no skew),
its interventions, and an outcome check over days 11-14. A second run scores the same learners on a
platform whose app changed (the generator's app 3.0: dwell halved, logins doubled): skew, and the
steward holds its interventions. Reasons and outcomes are checked against the raw landing events;
skew with real TFDV.
"""

from __future__ import annotations

import asyncore
import csv
import datetime as dt
import email
import email.policy
import json
import re
import smtpd
import sqlite3
import threading
from collections import defaultdict
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl

from dropout.contract import decisions
from dropout.contract import features as F
from dropout.feedback import store
from dropout.ingestion.aggregate import to_list_columns
from dropout.ingestion.pseudonymise import pseudonym
from dropout.ingestion.span import ingest_span
from dropout.monitoring import skew
from dropout.pipeline import champion as champion_lib
from dropout.pipeline import schema as schema_lib
from dropout.warning import actions as A
from dropout.warning import job, lead_time, scoring
from dropout.warning import reasons as R
from dropout.warning.examples import serving_examples
from dropout.warning.job import WarningRun, check_outcomes
from lab.fixture_model import FIXTURE_KEY, export_models
from lab.generator import GeneratorConfig, generate

REPO = Path(__file__).resolve().parents[1]
WINDOW = 10
FIRST_DAY = dt.date(2026, 9, 1)
AS_OF = FIRST_DAY + dt.timedelta(days=WINDOW - 1)
OUTCOME_DAYS = 4
STAFF = "course-team@school.example"


class _Smtp(smtpd.SMTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), None)
        self.messages: list[tuple[str, list[str], bytes]] = []

    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        self.messages.append((mailfrom, rcpttos, data))


def _webhook_server():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def _raw_activity(data_root: Path) -> dict[tuple[str, str], dict[str, dict[str, int]]]:
    """(pseudonym, course) -> landing day -> {"events": n, "logins": n}, straight from the raw JSONL."""
    out: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: {"events": 0, "logins": 0})
    )
    cache: dict[str, str] = {}
    for path in sorted((data_root / "landing").glob("*/*.jsonl")):
        day = path.parent.name
        for line in path.read_text().splitlines():
            event = json.loads(line)
            raw = event["learner_id"]
            who = cache.setdefault(raw, pseudonym(raw, FIXTURE_KEY))
            counts = out[(who, event["course_id"])][day]
            counts["events"] += 1
            counts["logins"] += event["event_type"] == "login"
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("warning")
    model_dir = root / "serving" / "dropout_risk"
    export_models(model_dir, [1], learners=120, epochs=2, work_dir=root / "train")
    data = root / "data"
    generate(data, GeneratorConfig(learners=150, days=WINDOW + OUTCOME_DAYS, seed=11))

    # Threshold between the 3rd and 4th highest risk: 3 learners "high", the rest of the top 10 % "top".
    columns, _ = serving_examples(data, FIXTURE_KEY, WINDOW, as_of=AS_OF)
    risk = np.sort(champion_lib.score(champion_lib.load(model_dir), columns))[::-1]
    threshold = float((risk[2] + risk[3]) / 2)

    smtp = _Smtp()
    smtp_thread = threading.Thread(target=asyncore.loop, kwargs={"timeout": 0.1}, daemon=True)
    smtp_thread.start()
    hook, received = _webhook_server()
    config = WarningRun(
        run_id="run-1",
        data_root=data,
        model_dir=model_dir,
        out_dir=root / "out",
        key=FIXTURE_KEY,
        window_days=WINDOW,
        threshold=threshold,
        top_fraction=0.1,
        high_actions=("email_learner", "email_staff", "webhook"),
        top_actions=("email_learner",),
        channels=A.Channels(
            "127.0.0.1",
            smtp.socket.getsockname()[1],
            "warn@school.example",
            STAFF,
            f"http://127.0.0.1:{hook.server_address[1]}/push",
        ),
        outcome_days=OUTCOME_DAYS,
        as_of=AS_OF,
        ig_steps=16,
    )
    training = _training_run(root / "champion_run", data)
    summary = job.score(config)
    skew_summary = job.check_skew(config.out_dir, config.run_id, training)
    acted = job.act(config)  # no decision: acts when there is no skew
    outcome = check_outcomes(
        data, root / "out", FIXTURE_KEY, OUTCOME_DAYS, AS_OF + dt.timedelta(days=OUTCOME_DAYS)
    )

    # The same learners after an app release that halves dwell and doubles logins: a shifted window.
    shifted_data = root / "data-shifted"
    generate(shifted_data, GeneratorConfig(learners=150, days=WINDOW, seed=11, app_version_change_day=0))
    shifted = replace(config, run_id="run-shifted", data_root=shifted_data, out_dir=root / "out-shifted")
    sent_before = len(smtp.messages), len(received)
    shifted_summary = job.score(shifted)
    shifted_skew = job.check_skew(shifted.out_dir, shifted.run_id, training)
    with pytest.raises(ValueError, match="a steward must decide"):
        job.act(shifted, decisions.NO_SKEW)
    held = job.act(
        shifted,
        decisions.HOLD_INTERVENTIONS,
        by="steward",
        reason="app 3.0 changed dwell; scores not trusted",
    )
    sent_after = len(smtp.messages), len(received)
    yield {
        "root": root,
        "data": data,
        "summary": summary,
        "outcome": outcome,
        "columns": columns,
        "threshold": threshold,
        "smtp": smtp,
        "webhook": received,
        "config": config,
        "raw": _raw_activity(data),
        "skew": skew_summary,
        "acted": acted,
        "training": training,
        "shifted": {
            "summary": shifted_summary,
            "skew": shifted_skew,
            "held": held,
            "config": shifted,
            "sent": (sent_before, sent_after),
        },
    }
    smtp.close()
    hook.shutdown()


def _training_run(out: Path, data: Path) -> champion_lib.TrainingRun:
    """Statistics of span 0 (the scored window) as the training run's StatisticsGen computes them, and its schema."""
    result = ingest_span(
        data / "landing",
        data / "learners.csv",
        data / "outcomes.csv",
        first_day=FIRST_DAY,
        span=0,
        window_days=WINDOW,
        key=FIXTURE_KEY,
        mode="training",
        threads=1,
    )
    stats = stats_impl.generate_statistics_in_memory(to_list_columns(result.examples), tfdv.StatsOptions())
    (out / "Split-train").mkdir(parents=True)
    (out / "Split-train" / champion_lib.STATS_FILE).write_bytes(stats.SerializeToString())
    schema = schema_lib.write_schema(
        schema_lib.schema_for_window(schema_lib.load_schema(REPO / "schemas" / "schema.pbtxt"), WINDOW), out
    )
    return champion_lib.TrainingRun(
        "tfx-run-span-0", 0, out / "Split-train" / champion_lib.STATS_FILE, Path(schema), {}, "test"
    )


def _risk_csv(world) -> list[dict[str, str]]:
    with open(world["summary"]["risk_csv"], newline="") as fh:
        return list(csv.DictReader(fh))


def test_risk_list_ranks_flags_and_matches_the_table(world):
    rows = _risk_csv(world)
    columns, summary = world["columns"], world["summary"]
    n = len(columns[F.LEARNER_KEY])
    assert summary["active_learners"] == n == len(rows) > 20
    assert summary["model_version"] == 1 and summary["quarantined"] == 0
    assert [int(r["rank"]) for r in rows] == list(range(1, n + 1))
    risks = [float(r["risk"]) for r in rows]
    assert risks == sorted(risks, reverse=True)
    top_n = int(np.ceil(0.1 * n))
    for r in rows:
        expected = (
            "high" if float(r["risk"]) >= world["threshold"] else ("top" if int(r["rank"]) <= top_n else "")
        )
        assert r["band"] == expected
        assert bool(r["reason"]) == bool(expected)
    assert summary["flagged_high"] == 3 and summary["flagged"] == max(top_n, 3)
    # Everyone scored is enrolled on the last scored day, and every such learner is scored.
    learners = pd.read_csv(world["data"] / "learners.csv", dtype=str)
    enrolled = learners[pd.to_datetime(learners["enrolled_on"]).dt.date <= AS_OF]
    expected_ids = {
        (pseudonym(i, FIXTURE_KEY), c)
        for i, c in zip(enrolled["learner_id"], enrolled["course_id"], strict=True)
    }
    assert {(r["learner"], r["course_id"]) for r in rows} == expected_ids

    with sqlite3.connect(summary["database"]) as con:
        table = con.execute(
            "SELECT learner, course_id, risk, rank, band, reason FROM risk_list "
            "WHERE run_id = 'run-1' ORDER BY rank"
        ).fetchall()
    assert [(r["learner"], r["course_id"], int(r["rank"]), r["band"], r["reason"]) for r in rows] == [
        (t[0], t[1], t[3], t[4], t[5]) for t in table
    ]
    np.testing.assert_allclose(risks, [t[2] for t in table], atol=1e-6)


def test_no_raw_identifier_or_address_in_the_outputs(world):
    learners = pd.read_csv(world["data"] / "learners.csv", dtype=str)
    outputs = b"".join(p.read_bytes() for p in (world["root"] / "out").rglob("*") if p.is_file())
    assert outputs.count(b"course_id") >= 1  # the files are what we think they are
    for raw in list(learners["learner_id"][:50]) + list(learners["email"][:50]):
        assert raw.encode() not in outputs, raw


_PATTERNS = {
    "activity": re.compile(r"^no activity on (\d+) of the last (?:(\d+) days|day)$"),
    "no_login": re.compile(r"^no login in the last (?:(\d+) days|day)$"),
    "one_login": re.compile(
        r"^the only login in the last (?:(\d+) days|day) came with a mean dwell of (\d+) seconds$"
    ),
    "logins": re.compile(r"^(\d+) logins in the last (\d+) days with a mean dwell of (\d+) seconds$"),
}


def test_reasons_agree_with_the_raw_events(world):
    raw = world["raw"]
    window = [(AS_OF - dt.timedelta(days=k)).isoformat() for k in range(WINDOW - 1, -1, -1)]
    learners = pd.read_csv(world["data"] / "learners.csv", dtype=str)
    enrolled_on = {
        (pseudonym(i, FIXTURE_KEY), c): d
        for i, c, d in zip(
            learners["learner_id"], learners["course_id"], learners["enrolled_on"], strict=True
        )
    }
    checked = 0
    for r in _risk_csv(world):
        if not r["band"]:
            continue
        who = (r["learner"], r["course_id"])
        days = [d for d in window if d >= enrolled_on[who]][-R.RECENT_DAYS :]
        activity = raw.get(who, {})
        inactive = sum(activity.get(d, {"events": 0})["events"] == 0 for d in days)
        logins = sum(activity.get(d, {"logins": 0})["logins"] for d in days)
        parts = r["reason"].split("; ")
        assert 1 <= len(parts) <= 2, r["reason"]
        for part in parts:
            if m := _PATTERNS["activity"].match(part):
                assert (int(m[1]), int(m[2] or 1)) == (inactive, len(days)), (part, inactive, len(days))
                checked += 1
            elif m := _PATTERNS["no_login"].match(part):
                assert logins == 0, (part, logins)
                checked += 1
            elif m := _PATTERNS["one_login"].match(part):
                assert logins == 1, (part, logins)
                checked += 1
            elif m := _PATTERNS["logins"].match(part):
                assert (int(m[1]), int(m[2])) == (logins, len(days)), (part, logins, len(days))
                checked += 1
    assert checked >= 1, "no activity or login reason among the flagged learners to check"


def test_every_reason_matches_the_examples_it_was_built_from(world):
    columns = world["columns"]
    index = {
        (lr, c): i for i, (lr, c) in enumerate(zip(columns[F.LEARNER_KEY], columns["course_id"], strict=True))
    }
    for r in _risk_csv(world):
        if not r["band"]:
            continue
        i = index[(r["learner"], r["course_id"])]
        row = {k: columns[k][i] for k in F.sequence_keys()}
        days = R.recent_days(row[F.ENROLLED_MASK_KEY])
        for part in r["reason"].split("; "):
            if m := re.match(r"^(\d+) of (\d+) quiz submissions? in", part):
                assert int(m[1]) == int(row["wrong_attempts"][days].sum())
                assert int(m[2]) == int(row["quiz_submissions"][days].sum())
            elif m := re.match(r"^(\d+) (forum post|resource download)s? in", part):
                key = "forum_posts" if m[2] == "forum post" else "downloads"
                assert int(m[1]) == int(row[key][days].sum())
            elif m := re.match(r"^mean video completion (\d+) %", part):
                active = days[row[F.ACTIVE_MASK_KEY][days] > 0.5]
                assert int(m[1]) == round(100 * float(row["video_completion_rate"][active].mean()))


def test_integrated_gradients_account_for_the_risk_gap(world):
    champion = champion_lib.load(world["root"] / "serving" / "dropout_risk")
    rows = np.arange(6)
    attributions, at_input, at_base = scoring.integrated_gradients(champion, world["columns"], rows, steps=32)
    total = sum(a.sum(axis=1) for a in attributions.values())
    # Completeness: attributions sum to risk(x) - risk(baseline), up to the path discretisation.
    np.testing.assert_allclose(total, at_input - at_base, atol=0.005)
    np.testing.assert_allclose(at_input, champion_lib.score(champion, world["columns"])[rows], atol=1e-5)
    assert np.abs(at_input - at_base).max() > 1e-3  # the check above is not 0 == 0


def test_interventions_reach_smtp_and_webhook_and_are_recorded(world):
    rows = [r for r in _risk_csv(world) if r["band"]]
    high = [r for r in rows if r["band"] == "high"]
    learners = pd.read_csv(world["data"] / "learners.csv", dtype=str)
    address = {
        pseudonym(i, FIXTURE_KEY): e for i, e in zip(learners["learner_id"], learners["email"], strict=True)
    }

    messages = [
        (rcpt, email.message_from_bytes(data, policy=email.policy.default))
        for _, rcpt, data in world["smtp"].messages
    ]
    to_learners = sorted(r[0] for r, _ in messages if r != [STAFF])
    assert to_learners == sorted(address[r["learner"]] for r in rows)  # both bands e-mail the learner
    staff = [m for r, m in messages if r == [STAFF]]
    assert len(staff) == len(high)
    for r in high:
        assert any(r["learner"] in m.get_content() and r["reason"] in m.get_content() for m in staff)
    assert sorted(h["learner"] for h in world["webhook"]) == sorted(r["learner"] for r in high)
    assert all("@" not in json.dumps(h) for h in world["webhook"])

    with sqlite3.connect(world["summary"]["database"]) as con:
        recorded = con.execute(
            "SELECT action, status, count(*) FROM interventions GROUP BY action, status"
        ).fetchall()
    assert sorted(recorded) == sorted(
        [
            ("email_learner", "sent", len(rows)),
            ("email_staff", "sent", len(high)),
            ("webhook", "sent", len(high)),
        ]
    )
    assert world["acted"]["actions"] == {"sent": len(rows) + 2 * len(high)}
    assert world["acted"]["decision"] == decisions.NO_SKEW and world["acted"]["planned_actions"] == len(
        rows
    ) + 2 * len(high)


def test_outcomes_say_who_came_back_in_the_following_days(world):
    raw = world["raw"]
    after = [(AS_OF + dt.timedelta(days=k)).isoformat() for k in range(1, OUTCOME_DAYS + 1)]
    with sqlite3.connect(world["summary"]["database"]) as con:
        recorded = con.execute("SELECT DISTINCT learner, course_id, came_back FROM interventions").fetchall()
    flagged = {(r["learner"], r["course_id"]) for r in _risk_csv(world) if r["band"]}
    assert {(lr, c) for lr, c, _ in recorded} == flagged
    expected = {
        (lr, c): int(any(raw.get((lr, c), {}).get(d, {"events": 0})["events"] > 0 for d in after))
        for lr, c in flagged
    }
    assert {(lr, c): back for lr, c, back in recorded} == expected
    assert world["outcome"] == {
        "checked": len(flagged),
        "came_back": sum(expected.values()),
        "landed_through": after[-1],
        "waiting_for_landing_data": 0,
    }


def test_outcomes_wait_for_the_landing_data_of_the_outcome_days(tmp_path):
    """A calendar past the outcome window is not enough: without those days' data nobody is judged."""
    landing = tmp_path / "data" / "landing"
    for day in ("2026-09-19", "2026-09-20"):
        (landing / day).mkdir(parents=True)
    con = store.connect(tmp_path / "out" / "risk.sqlite")
    store.record_intervention(
        con,
        run_id="r1",
        learner="a" * 64,
        course_id="C-PY101",
        band="high",
        action="email_learner",
        status="sent",
        detail="test",
        acted_at="2026-09-20",
        outcome_due="2026-09-27",
    )
    con.close()
    summary = check_outcomes(tmp_path / "data", tmp_path / "out", FIXTURE_KEY, 7, dt.date(2026, 11, 23))
    assert summary == {
        "checked": 0,
        "came_back": 0,
        "landed_through": "2026-09-20",
        "waiting_for_landing_data": 1,
    }
    with sqlite3.connect(tmp_path / "out" / "risk.sqlite") as con:
        assert con.execute("SELECT came_back, outcome_checked_at FROM interventions").fetchall() == [
            (None, None)
        ]


def test_failed_deliveries_are_reported_not_raised():
    item = A.Flagged("abc", "C-PY101", 0.9, 1, "high", "no activity on 7 of the last 7 days")
    dead = A.Channels("127.0.0.1", 1, "warn@x.example", STAFF, "http://127.0.0.1:1/push", timeout_s=2)
    status, detail = A.email_learner(item, dead, {"abc": "learner@x.example"})
    assert status == "failed" and "SMTP 127.0.0.1:1" in detail
    status, detail = A.webhook(item, dead, {})
    assert status == "failed" and "127.0.0.1:1" in detail
    assert A.email_learner(item, dead, {})[0] == "skipped"
    with pytest.raises(ValueError, match="unknown actions \\['sms'\\]"):
        A.parse_actions("email_learner, sms", "warning.high_actions")


def test_rank_and_flag_bands():
    rank, band = scoring.rank_and_flag(
        np.array([0.1, 0.95, 0.5, 0.85, 0.3, 0.2, 0.0, 0.4, 0.6, 0.7, 0.05]), 0.8, 0.3
    )
    assert rank.tolist() == [9, 1, 5, 2, 7, 8, 11, 6, 4, 3, 10]
    assert band.tolist() == ["", "high", "", "high", "", "", "", "", "top", "top", ""]


def test_reason_text_from_a_known_learner():
    row = {k: np.zeros(WINDOW, np.float32) for k in F.sequence_keys()}
    row[F.ENROLLED_MASK_KEY][2:] = 1  # 8 enrolled days; the last 7 are days 3..9
    row[F.ACTIVE_MASK_KEY][[1, 8]] = 1  # day 1 is before enrolment... and stays out of the reason
    row["logins"][8] = 1
    row["mean_dwell_seconds"][8] = 23
    grouped = {"activity": 0.3, "logins": 0.2, "quiz": -0.1, "video": 0.0}
    assert R.reason(row, grouped) == (
        "no activity on 6 of the last 7 days; "
        "the only login in the last 7 days came with a mean dwell of 23 seconds"
    )
    assert R.reason(row, {"quiz": -0.1}).startswith("no single behaviour stands out")


# --- Skew: serving examples against the champion's training statistics -----------------------------


def _skew_features(schema_path: Path) -> dict[str, float]:
    schema = schema_lib.load_schema(schema_path)
    out = {}
    for f in schema.feature:
        if f.HasField("skew_comparator"):
            c = f.skew_comparator
            out[f.name] = (
                c.jensen_shannon_divergence.threshold
                if c.HasField("jensen_shannon_divergence")
                else c.infinity_norm.threshold
            )
    return out


def test_no_skew_on_the_window_the_champion_was_trained_on(world):
    summary, training = world["skew"], world["training"]
    assert summary["skew"] is False and summary["anomalies"] == 0 and summary["features"] == []
    report = json.loads(Path(summary["report_json"]).read_text())
    thresholds = _skew_features(training.schema)
    served = set(skew.model_inputs())
    # Every served feature with a comparator was compared, each within its threshold; unserved ones are listed.
    assert {c["feature"] for c in report["compared"]} == set(thresholds) & served
    assert len(report["compared"]) == summary["compared"] >= 15
    for c in report["compared"]:
        assert c["threshold"] == pytest.approx(thresholds[c["feature"]]) and c["value"] <= c["threshold"]
    assert report["not_compared"] == sorted(set(thresholds) - served) == ["age_band", "gender"]
    assert (
        report["training_run"] == "tfx-run-span-0"
        and report["active_learners"] == world["summary"]["active_learners"]
    )
    with sqlite3.connect(world["summary"]["database"]) as con:
        row = con.execute(
            "SELECT skew, skew_features, decision, decided_by FROM runs WHERE run_id = 'run-1'"
        ).fetchone()
    assert row == (0, "", "acted", "pipeline")


def test_skew_found_on_a_shifted_window_with_distance_and_threshold(world):
    summary = world["shifted"]["skew"]
    thresholds = _skew_features(world["training"].schema)
    # The app release doubled logins and halved dwell; nothing else changed.
    assert summary["skew"] is True and set(summary["features"]) == {"logins", "mean_dwell_seconds"}
    report = json.loads(Path(summary["report_json"]).read_text())
    assert len(report["anomalies"]) == summary["anomalies"] == 2
    page = Path(summary["report_html"]).read_text()
    for row in report["anomalies"]:
        assert row["check"] == "skew" and row["types"] == ["COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"]
        [m] = row["measurements"]
        assert m["type"] == "JENSEN_SHANNON_DIVERGENCE" and m["threshold"] == pytest.approx(
            thresholds[row["feature"]]
        )
        assert m["value"] > m["threshold"]
        assert f"{m['value']:.6g}"[:5] in row["description"]  # TFDV's own sentence names the same distance
        measured = f"JENSEN_SHANNON_DIVERGENCE {m['value']:.4f} &gt; {m['threshold']:.4f}"
        assert f"<td>{row['feature']}</td>" in page and measured in page
        assert f"`{row['feature']}`" in summary["body"] and measured.replace("&gt;", ">") in summary["body"]
    compared = {c["feature"]: c for c in report["compared"]}
    assert compared["logins"]["value"] > compared["quiz_submissions"]["value"]
    assert summary["report_html"] in summary["body"]


def test_hold_sends_nothing_and_is_recorded(world):
    shifted = world["shifted"]
    before, after = shifted["sent"]
    assert before == after  # no e-mail, no webhook
    config, held = shifted["config"], shifted["held"]
    flagged = [r for r in csv.DictReader(open(shifted["summary"]["risk_csv"], newline="")) if r["band"]]
    planned = sum(len(config.high_actions if r["band"] == "high" else config.top_actions) for r in flagged)
    assert len(flagged) == shifted["summary"]["flagged"] >= 3 and planned == held["planned_actions"]
    assert (
        held["held"]
        and held["decision"] == decisions.HOLD_INTERVENTIONS
        and held["actions"] == {"held": planned}
    )
    with sqlite3.connect(shifted["summary"]["database"]) as con:
        rows = con.execute("SELECT status, detail FROM interventions WHERE run_id = 'run-shifted'").fetchall()
        run_row = con.execute(
            "SELECT decision, decided_by, decision_reason FROM runs WHERE run_id = 'run-shifted'"
        ).fetchone()
    assert len(rows) == planned
    assert {r[0] for r in rows} == {"held"}
    assert all(d == "Hold interventions: app 3.0 changed dwell; scores not trusted" for _, d in rows)
    assert run_row == ("held", "steward", "app 3.0 changed dwell; scores not trusted")

    # Nobody decided: a run with skew is held by policy, still nothing sent, the reason names the skew.
    again = job.act(config)
    assert again["held"] and again["by"] == "policy" and "logins" in again["reason"]
    assert (len(world["smtp"].messages), len(world["webhook"])) == after


def test_act_needs_a_scored_and_checked_run(tmp_path, world):
    config = replace(world["config"], run_id="never-scored", out_dir=tmp_path)
    with pytest.raises(LookupError, match="has not been scored"):
        job.act(config)
    con = store.connect(store.store_path(tmp_path))
    store.record_run(
        con,
        run_id="never-scored",
        scored_at="2026-09-10T00:00:00+00:00",
        window_first_day="2026-09-01",
        window_last_day="2026-09-10",
        model_version=1,
        model_path="x",
        active_learners=0,
        flagged=0,
        serving_statistics="x",
    )
    con.close()
    with pytest.raises(RuntimeError, match="skew not checked yet"):
        job.act(config)


def _mlmd(path: Path):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config), pb


def _record_run(store_, pb, run_id: str, outputs: dict[str, tuple[str, str, dict]]) -> None:
    """One pipeline run: per node an execution with one output artifact (key, type, uri, properties)."""
    run_type = store_.put_context_type(pb.ContextType(name="pipeline_run"))
    node_type = store_.put_context_type(pb.ContextType(name="node"))
    [run_ctx] = store_.put_contexts([pb.Context(type_id=run_type, name=run_id)])
    for node, (key, type_name, uri, props) in outputs.items():
        node_ctxs = store_.get_contexts_by_type("node")
        existing = [c.id for c in node_ctxs if c.name == f"dropout_risk.{node}"]
        node_ctx = (
            existing[0]
            if existing
            else store_.put_contexts([pb.Context(type_id=node_type, name=f"dropout_risk.{node}")])[0]
        )
        artifact = pb.Artifact(type_id=store_.put_artifact_type(pb.ArtifactType(name=type_name)), uri=uri)
        for k, v in props.items():
            if isinstance(v, int):
                artifact.custom_properties[k].int_value = v
            else:
                artifact.custom_properties[k].string_value = v
        [execution_id] = store_.put_executions(
            [pb.Execution(type_id=store_.put_execution_type(pb.ExecutionType(name=node)))]
        )
        [artifact_id] = store_.put_artifacts([artifact])
        event = pb.Event(type=pb.Event.OUTPUT, artifact_id=artifact_id, execution_id=execution_id)
        event.path.steps.add().key = key
        store_.put_events([event])
        store_.put_attributions_and_associations(
            [], [pb.Association(context_id=c, execution_id=execution_id) for c in (run_ctx, node_ctx)]
        )


def test_champion_training_statistics_and_schema_come_from_its_run_in_ml_metadata(world, tmp_path):
    import shutil

    training = world["training"]
    models = world["root"] / "serving" / "dropout_risk"
    store_, pb = _mlmd(tmp_path / "metadata.sqlite")
    stats_dir, schema_dir = training.statistics.parent.parent, training.schema.parent
    # An older run pushed version 1; a later run's Pusher pushed nothing (unblessed).
    _record_run(
        store_,
        pb,
        "run-span-0",
        {
            "StatisticsGen": ("statistics", "ExampleStatistics", str(stats_dir), {"span": 0}),
            "ImportSchemaGen": ("schema", "Schema", str(schema_dir), {}),
            "Pusher": (
                "pushed_model",
                "PushedModel",
                str(tmp_path / "push0"),
                {"pushed": 1, "pushed_destination": str(models / "1")},
            ),
        },
    )
    _record_run(
        store_,
        pb,
        "run-span-1",
        {
            "StatisticsGen": ("statistics", "ExampleStatistics", str(tmp_path / "nowhere"), {"span": 1}),
            "ImportSchemaGen": ("schema", "Schema", str(tmp_path / "nowhere"), {}),
            "Pusher": ("pushed_model", "PushedModel", str(tmp_path / "push1"), {"pushed": 0}),
        },
    )
    found = champion_lib.champion_training(tmp_path / "metadata.sqlite", "dropout_risk", models / "1")
    assert (found.run_id, found.span, found.matched_by) == ("run-span-0", 0, "pushed_destination")
    assert found.statistics == training.statistics and found.schema == training.schema

    # make rollback pushes an earlier model again as a new version: found by its SavedModel fingerprint.
    rolled_back = tmp_path / "serving" / "7"
    shutil.copytree(models / "1", rolled_back)
    found = champion_lib.champion_training(tmp_path / "metadata.sqlite", "dropout_risk", rolled_back)
    assert (found.run_id, found.matched_by) == ("run-span-0", "saved_model_fingerprint")

    with pytest.raises(LookupError, match="is not the push of any TFX run"):
        champion_lib.champion_training(tmp_path / "metadata.sqlite", "dropout_risk", tmp_path)
    with pytest.raises(LookupError, match="no ML Metadata"):
        champion_lib.champion_training(tmp_path / "missing.sqlite", "dropout_risk", models / "1")


def _enrolled_on(world) -> dict[tuple[str, str], dt.date]:
    learners = pd.read_csv(world["data"] / "learners.csv", dtype=str)
    return {
        (pseudonym(i, FIXTURE_KEY), c): dt.date.fromisoformat(d)
        for i, c, d in zip(
            learners["learner_id"], learners["course_id"], learners["enrolled_on"], strict=True
        )
    }


def test_risk_list_separates_learners_still_active_from_those_already_silent(world):
    """``activity_state`` is "silent" exactly when the raw landing events show nothing on the learner's last 7 enrolled days."""
    raw, enrolled_on = world["raw"], _enrolled_on(world)
    rows = _risk_csv(world)
    for r in rows:
        key = (r["learner"], r["course_id"])
        days = [AS_OF - dt.timedelta(days=k) for k in range(7)]
        days = [d for d in days if d >= max(enrolled_on[key], FIRST_DAY)]
        quiet = all(raw.get(key, {}).get(d.isoformat(), {"events": 0})["events"] == 0 for d in days)
        assert r["activity_state"] == ("silent" if quiet else "active"), key
    flagged = [r for r in rows if r["band"]]
    summary = world["summary"]
    assert summary["flagged_active"] == sum(r["activity_state"] == "active" for r in flagged)
    assert summary["flagged_silent"] == sum(r["activity_state"] == "silent" for r in flagged)
    assert summary["flagged_active"] + summary["flagged_silent"] == summary["flagged"]
    assert {r["activity_state"] for r in rows} == {"active", "silent"}  # both groups occur in this world


def test_silent_learners_get_the_silent_actions_instead_of_their_bands(world):
    config = replace(world["config"], silent_actions=("email_staff",))
    item = A.Flagged(
        "abc", "c1", 0.9, 1, "high", "no activity on 7 of the last 7 days", activity_state="silent"
    )
    assert job.planned_actions(config, item) == ("email_staff",)
    assert job.planned_actions(config, replace(item, activity_state="active")) == config.high_actions
    assert (
        job.planned_actions(config, replace(item, band="top", activity_state="active")) == config.top_actions
    )
    # Without silent actions configured (the module world's config) everyone gets their band's.
    assert job.planned_actions(world["config"], item) == world["config"].high_actions


def test_season_lead_time_reads_the_stores_flags_against_the_landing_data(world):
    """One run in the store: every flagged learner's first flag is its window's last day (AS_OF)."""
    season = lead_time.season(world["data"], world["root"] / "out", FIXTURE_KEY, FIRST_DAY, AS_OF)
    rows = _risk_csv(world)
    outcomes = pd.read_csv(world["data"] / "outcomes.csv", dtype=str)
    dropped = {
        (pseudonym(i, FIXTURE_KEY), c): v == "1"
        for i, c, v in zip(
            outcomes["learner_id"], outcomes["course_id"], outcomes["dropped_out"], strict=True
        )
    }
    flagged = [r for r in rows if r["band"] and (r["learner"], r["course_id"]) in dropped]
    model = season["model"]
    assert model["flagged"] == len(flagged) > 0
    assert model["flagged_dropouts"] == sum(dropped[(r["learner"], r["course_id"])] for r in flagged)
    silent = sum(r["activity_state"] == "silent" for r in flagged)
    assert model["share_flagged_already_silent"] == pytest.approx(silent / len(flagged))
    rule = season["rule_7_days"]
    assert rule["share_dropouts_flagged_while_active"] == 0.0  # the rule flags only the already silent
    assert season["counts"]["learners"] >= len(flagged)
