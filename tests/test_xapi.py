"""The xAPI source: statements -> landing days, every statement accounted for, and a real LRS (Ralph) round trip.

Cost: the mapping tests are instant; the LRS test starts Ralph (``infra/lrs/start.sh``, about 5 s), posts
the generated events of 20 learners x 3 days as xAPI statements plus one of each bad class, pulls them
back 100 per page, and ingests both paths: about 15 s.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import subprocess
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

from dropout.ingestion import xapi
from dropout.ingestion.aggregate import feature_columns
from dropout.ingestion.span import ingest_span
from lab.generator import GeneratorConfig, generate

REPO = Path(__file__).resolve().parents[1]
KEY = b"xapi-test-key"
HOME = "https://lms.example.org"


def statement(event: dict, **override) -> dict:
    """A landing event as the xAPI statement an LMS would send for it."""
    verbs = {v: k for k, v in reversed(list(xapi.VERB_EVENTS.items()))}  # first verb per event type
    result: dict = {}
    if event.get("duration_s") not in (None, ""):
        result["duration"] = f"PT{float(event['duration_s'])}S"
    if event.get("correct") not in (None, ""):
        result["success"] = event["correct"] in (True, "true", "True")
    s = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, event["event_id"])),
        "actor": {"objectType": "Agent", "account": {"homePage": HOME, "name": event["learner_id"]}},
        "verb": {"id": verbs[event["event_type"]]},
        "object": {"objectType": "Activity", "id": f"{HOME}/courses/{event['course_id']}/item/1"},
        "timestamp": event["ts"],
        "context": {
            "contextActivities": {
                "parent": [
                    {
                        "objectType": "Activity",
                        "id": f"{HOME}/courses/{event['course_id']}",
                        "definition": {"type": xapi.COURSE_TYPE},
                    }
                ]
            }
        },
    }
    if result:
        s["result"] = result
    s.update(override)
    return s


GOOD = {
    "event_id": "e1",
    "learner_id": "LRN00000001",
    "course_id": "C01",
    "ts": "2026-09-01T10:00:00+02:00",
    "event_type": "quiz_submit",
    "duration_s": 30,
    "correct": "false",
}


@pytest.mark.parametrize(
    "override, reason",
    [
        ({"verb": {"id": xapi.VOIDED_VERB}}, "voiding_statement"),
        ({"actor": {"objectType": "Agent", "mbox": "mailto:someone@example.org"}}, "missing_actor"),
        ({"context": {}}, "missing_course"),
        ({"verb": {"id": "http://example.org/verbs/juggled"}}, "unknown_verb"),
        ({"timestamp": "yesterday"}, "bad_timestamp"),
        ({"timestamp": "2026-09-01T10:00:00"}, "bad_timestamp"),  # no time zone
        ({"id": ""}, "invalid_statement"),
    ],
)
def test_each_bad_statement_has_one_reason(override, reason):
    assert xapi.to_event(statement(GOOD, **override)) == (None, reason)


def test_a_statement_maps_onto_the_landing_format():
    event, reason = xapi.to_event(statement(GOOD))
    assert reason is None
    assert event == {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "e1")),
        "learner_id": "LRN00000001",
        "course_id": "C01",
        "ts": "2026-09-01T10:00:00+02:00",
        "event_type": "quiz_submit",
        "correct": False,
        "duration_s": 30.0,
    }
    assert xapi.duration_seconds("PT1M30.5S") == 90.5 and xapi.duration_seconds("PT") is None


def test_landing_reconciles_and_a_repull_duplicates_nothing(tmp_path):
    good = statement(GOOD)
    later = statement({**GOOD, "event_id": "e2", "ts": "2026-09-02T01:00:00+00:00"})
    retracted = statement({**GOOD, "event_id": "e3"})
    voiding = statement(
        {**GOOD, "event_id": "e4"},
        verb={"id": xapi.VOIDED_VERB},
        object={"objectType": "StatementRef", "id": retracted["id"]},
    )
    batch = [good, later, good, retracted, voiding, "not a statement"]
    first = xapi.land(batch, tmp_path / "landing", "pull-a")
    assert first.as_dict()["quarantined"] == {
        "duplicate_statement": 1,
        "invalid_statement": 1,
        "voided": 1,
        "voiding_statement": 1,
    }
    assert (first.pulled, first.written, first.already_landed) == (6, 2, 0)
    assert sorted(first.days) == ["2026-09-01", "2026-09-02"]
    again = xapi.land(batch, tmp_path / "landing", "pull-a")  # the same window again: rewritten, not added
    overlapping = xapi.land([good, later], tmp_path / "landing", "pull-b")  # another window holding them
    assert again.written == 2 and overlapping.written == 0 and overlapping.already_landed == 2
    lines = [ln for p in (tmp_path / "landing").rglob("*.jsonl") for ln in p.read_text().splitlines()]
    assert len(lines) == 2
    quarantine = (tmp_path / "source-quarantine" / "xapi-pull-a.jsonl").read_text()
    assert "LRN00000001" not in quarantine and "voided" in quarantine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lrs(tmp_path):
    if not (REPO / ".venv-lrs" / "bin" / "ralph").exists():
        pytest.fail(
            ".venv-lrs is missing: run `make setup` (scripts/setup.sh builds it from requirements/lrs.lock)"
        )
    home, port = tmp_path / "lrs", _free_port()
    env = {**os.environ, "LRS_HOME": str(home), "LRS_PORT": str(port)}
    started = subprocess.run(
        ["bash", str(REPO / "infra/lrs/start.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 0, started.stderr
    password = (home / "pipeline.password").read_text().strip()
    assert password not in started.stdout + started.stderr  # the secret is in the file, never printed
    yield f"http://127.0.0.1:{port}", password
    subprocess.run(["bash", str(REPO / "infra/lrs/stop.sh")], env=env, check=False, timeout=30)


def _post(url: str, password: str, statements: list[dict]) -> None:
    """One POST: Ralph's file backend (a development backend) writes its statement file once."""
    token = base64.b64encode(f"pipeline:{password}".encode()).decode()
    request = urllib.request.Request(
        f"{url}/xAPI/statements",
        data=json.dumps(statements).encode(),
        headers={
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "X-Experience-API-Version": xapi.XAPI_VERSION,
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200


def test_statements_pulled_from_a_real_lrs_ingest_like_the_landing_files(tmp_path, lrs):
    url, password = lrs
    data = tmp_path / "generated"
    generate(data, GeneratorConfig(learners=20, days=3, seed=3))
    events = [
        json.loads(ln)
        for p in sorted((data / "landing").rglob("*.jsonl"))
        for ln in p.read_text().splitlines()
    ]
    bad = [
        statement({**GOOD, "event_id": "bad-verb"}, verb={"id": "http://example.org/verbs/juggled"}),
        statement(
            {**GOOD, "event_id": "bad-actor"}, actor={"objectType": "Agent", "mbox": "mailto:x@example.org"}
        ),
    ]
    # The spec's since/until are stored time; Ralph applies them to the statements' timestamps. This
    # window holds both (the generated days are in September, they are stored now).
    since = dt.datetime(2026, 8, 31, tzinfo=dt.UTC)
    _post(url, password, [statement(e) for e in events] + bad)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)

    pulled_root = tmp_path / "pulled" / "landing"
    result = xapi.pull(url, "pipeline", password, pulled_root, since, until, limit=100)
    assert result.pages > 1  # followed the LRS's "more" links
    assert result.pulled == len(events) + 2
    assert result.written == len(events)
    assert result.as_dict()["quarantined"] == {"missing_actor": 1, "unknown_verb": 1}
    again = xapi.pull(url, "pipeline", password, pulled_root, since, until, limit=100)
    assert again.written == len(events) and again.already_landed == 0  # the same window rewrites its files
    assert sum(len(p.read_text().splitlines()) for p in pulled_root.rglob("*.jsonl")) == len(events)

    def examples(landing: Path):
        result = ingest_span(
            landing,
            data / "learners.csv",
            data / "outcomes.csv",
            first_day=dt.date(2026, 9, 1),
            span=0,
            window_days=3,
            key=KEY,
            mode="training",
            threads=1,
        )
        return result, feature_columns(result.examples, 3)

    direct, direct_columns = examples(data / "landing")
    via_lrs, lrs_columns = examples(pulled_root)
    assert via_lrs.counts["accepted"] == direct.counts["accepted"] == len(events)
    for key, values in direct_columns.items():
        np.testing.assert_array_equal(lrs_columns[key], values, err_msg=key)

    with pytest.raises(xapi.LrsError, match="401"):
        list(xapi.pages(url, "pipeline", "wrong-password", since, until))
