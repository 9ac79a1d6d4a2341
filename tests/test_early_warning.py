"""The early-warning job on generated learners with a real exported model, a real SMTP server and a
real webhook receiver on loopback.

One module fixture: a small model exported with the Trainer's signatures
(``dropout.serving.fixture_model``), 14 days of generated landing data for other learners, one run
scoring days 1-10 (the threshold set between the 3rd and 4th highest risk so both bands occur), and
an outcome check over days 11-14. Reasons and outcomes are checked against the raw landing events.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dropout import features as F
from dropout.generator import GeneratorConfig, generate
from dropout.ingest.pseudonymise import pseudonym
from dropout.serving.fixture_model import FIXTURE_KEY, export_models
from dropout.warning import actions as A
from dropout.warning import reasons as R
from dropout.warning import scoring
from dropout.warning.examples import serving_examples
from dropout.warning.job import WarningRun, check_outcomes, run

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
    out: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: {"events": 0, "logins": 0}))
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
    risk = np.sort(scoring.score(scoring.load_champion(model_dir), columns))[::-1]
    threshold = float((risk[2] + risk[3]) / 2)

    smtp = _Smtp()
    smtp_thread = threading.Thread(target=asyncore.loop, kwargs={"timeout": 0.1}, daemon=True)
    smtp_thread.start()
    hook, received = _webhook_server()
    config = WarningRun(
        run_id="run-1", data_root=data, model_dir=model_dir, out_dir=root / "out", key=FIXTURE_KEY,
        window_days=WINDOW, threshold=threshold, top_fraction=0.1,
        high_actions=("email_learner", "email_staff", "webhook"), top_actions=("email_learner",),
        channels=A.Channels("127.0.0.1", smtp.socket.getsockname()[1], "warn@school.example", STAFF,
                            f"http://127.0.0.1:{hook.server_address[1]}/push"),
        outcome_days=OUTCOME_DAYS, as_of=AS_OF, ig_steps=16,
    )
    summary = run(config)
    outcome = check_outcomes(data, root / "out", FIXTURE_KEY, OUTCOME_DAYS, AS_OF + dt.timedelta(days=OUTCOME_DAYS))
    yield {"root": root, "data": data, "summary": summary, "outcome": outcome, "columns": columns,
           "threshold": threshold, "smtp": smtp, "webhook": received, "config": config,
           "raw": _raw_activity(data)}
    smtp.close()
    hook.shutdown()


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
        expected = "high" if float(r["risk"]) >= world["threshold"] else ("top" if int(r["rank"]) <= top_n else "")
        assert r["band"] == expected
        assert bool(r["reason"]) == bool(expected)
    assert summary["flagged_high"] == 3 and summary["flagged"] == max(top_n, 3)
    # Everyone scored is enrolled on the last scored day, and every such learner is scored.
    learners = pd.read_csv(world["data"] / "learners.csv", dtype=str)
    enrolled = learners[pd.to_datetime(learners["enrolled_on"]).dt.date <= AS_OF]
    expected_ids = {(pseudonym(i, FIXTURE_KEY), c) for i, c in zip(enrolled["learner_id"], enrolled["course_id"], strict=True)}
    assert {(r["learner"], r["course_id"]) for r in rows} == expected_ids

    with sqlite3.connect(summary["database"]) as con:
        table = con.execute("SELECT learner, course_id, risk, rank, band, reason FROM risk_list "
                            "WHERE run_id = 'run-1' ORDER BY rank").fetchall()
    assert [(r["learner"], r["course_id"], int(r["rank"]), r["band"], r["reason"]) for r in rows] == \
        [(t[0], t[1], t[3], t[4], t[5]) for t in table]
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
    "one_login": re.compile(r"^the only login in the last (?:(\d+) days|day) came with a mean dwell of (\d+) seconds$"),
    "logins": re.compile(r"^(\d+) logins in the last (\d+) days with a mean dwell of (\d+) seconds$"),
}


def test_reasons_agree_with_the_raw_events(world):
    raw = world["raw"]
    window = [(AS_OF - dt.timedelta(days=k)).isoformat() for k in range(WINDOW - 1, -1, -1)]
    learners = pd.read_csv(world["data"] / "learners.csv", dtype=str)
    enrolled_on = {(pseudonym(i, FIXTURE_KEY), c): d for i, c, d in
                   zip(learners["learner_id"], learners["course_id"], learners["enrolled_on"], strict=True)}
    checked = 0
    for r in _risk_csv(world):
        if not r["band"]:
            continue
        who = (r["learner"], r["course_id"])
        days = [d for d in window if d >= enrolled_on[who]][-R.RECENT_DAYS:]
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
    index = {(lr, c): i for i, (lr, c) in enumerate(zip(columns[F.LEARNER_KEY], columns["course_id"], strict=True))}
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
    champion = scoring.load_champion(world["root"] / "serving" / "dropout_risk")
    rows = np.arange(6)
    attributions, at_input, at_base = scoring.integrated_gradients(champion, world["columns"], rows, steps=32)
    total = sum(a.sum(axis=1) for a in attributions.values())
    # Completeness: attributions sum to risk(x) - risk(baseline), up to the path discretisation.
    np.testing.assert_allclose(total, at_input - at_base, atol=0.005)
    np.testing.assert_allclose(at_input, scoring.score(champion, world["columns"])[rows], atol=1e-5)
    assert np.abs(at_input - at_base).max() > 1e-3  # the check above is not 0 == 0


def test_interventions_reach_smtp_and_webhook_and_are_recorded(world):
    rows = [r for r in _risk_csv(world) if r["band"]]
    high = [r for r in rows if r["band"] == "high"]
    learners = pd.read_csv(world["data"] / "learners.csv", dtype=str)
    address = {pseudonym(i, FIXTURE_KEY): e for i, e in zip(learners["learner_id"], learners["email"], strict=True)}

    messages = [(rcpt, email.message_from_bytes(data, policy=email.policy.default))
                for _, rcpt, data in world["smtp"].messages]
    to_learners = sorted(r[0] for r, _ in messages if r != [STAFF])
    assert to_learners == sorted(address[r["learner"]] for r in rows)  # both bands e-mail the learner
    staff = [m for r, m in messages if r == [STAFF]]
    assert len(staff) == len(high)
    for r in high:
        assert any(r["learner"] in m.get_content() and r["reason"] in m.get_content() for m in staff)
    assert sorted(h["learner"] for h in world["webhook"]) == sorted(r["learner"] for r in high)
    assert all("@" not in json.dumps(h) for h in world["webhook"])

    with sqlite3.connect(world["summary"]["database"]) as con:
        recorded = con.execute("SELECT action, status, count(*) FROM interventions GROUP BY action, status").fetchall()
    assert sorted(recorded) == sorted([("email_learner", "sent", len(rows)), ("email_staff", "sent", len(high)),
                                       ("webhook", "sent", len(high))])
    assert world["summary"]["actions"] == {"sent": len(rows) + 2 * len(high)}


def test_outcomes_say_who_came_back_in_the_following_days(world):
    raw = world["raw"]
    after = [(AS_OF + dt.timedelta(days=k)).isoformat() for k in range(1, OUTCOME_DAYS + 1)]
    with sqlite3.connect(world["summary"]["database"]) as con:
        recorded = con.execute("SELECT DISTINCT learner, course_id, came_back FROM interventions").fetchall()
    flagged = {(r["learner"], r["course_id"]) for r in _risk_csv(world) if r["band"]}
    assert {(lr, c) for lr, c, _ in recorded} == flagged
    expected = {(lr, c): int(any(raw.get((lr, c), {}).get(d, {"events": 0})["events"] > 0 for d in after))
                for lr, c in flagged}
    assert {(lr, c): back for lr, c, back in recorded} == expected
    assert world["outcome"] == {"checked": len(flagged), "came_back": sum(expected.values())}


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
    rank, band = scoring.rank_and_flag(np.array([0.1, 0.95, 0.5, 0.85, 0.3, 0.2, 0.0, 0.4, 0.6, 0.7, 0.05]), 0.8, 0.3)
    assert rank.tolist() == [9, 1, 5, 2, 7, 8, 11, 6, 4, 3, 10]
    assert band.tolist() == ["", "high", "", "high", "", "", "", "", "top", "top", ""]


def test_reason_text_from_a_known_learner():
    row = {k: np.zeros(WINDOW, np.float32) for k in F.sequence_keys()}
    row[F.ENROLLED_MASK_KEY][2:] = 1  # 8 enrolled days; the last 7 are days 3..9
    row[F.ACTIVE_MASK_KEY][[1, 8]] = 1  # day 1 is before enrolment... and stays out of the reason
    row["logins"][8] = 1
    row["mean_dwell_seconds"][8] = 23
    grouped = {"activity": 0.3, "logins": 0.2, "quiz": -0.1, "video": 0.0}
    assert R.reason(row, grouped) == ("no activity on 6 of the last 7 days; "
                                      "the only login in the last 7 days came with a mean dwell of 23 seconds")
    assert R.reason(row, {"quiz": -0.1}).startswith("no single behaviour stands out")
