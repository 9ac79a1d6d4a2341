"""The reviews in the Airflow UI, in headless Chromium: a steward logs in, sees the pending data review with
its summary and answers it; a manager sees the approval with its metrics table and approves.

Cost: nothing of its own. It reads what the session's ``approved_run`` (conftest.py: the span 0 run whose
reviews are answered in the browser when chromium is installed) saw; that run costs about 2 min.
Without Debian's chromium and chromium-driver (``scripts/setup-browser.sh``) it is skipped, saying why,
and the run's reviews are answered through the REST API instead.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_steward_and_manager_answer_in_the_ui(approved_run):
    seen = approved_run["browser"]
    if seen is None:
        pytest.skip(
            "chromium/chromedriver not installed (`bash scripts/setup-browser.sh`): answered through the API"
        )
    assert re.search(r"Span 0: \d+ anomalies to review", seen["steward_subject"])
    # The summary: feature, anomaly type, description, and where the full report is; a rendered table.
    steward = seen["steward"]
    assert steward["cells"] and "|---" not in steward["text"], "no rendered table on the steward's page"
    assert "android" in steward["text"] + " ".join(steward["cells"])  # the value the schema does not allow
    assert seen["steward_answer"]["chosen_options"] == ["Accept once"]
    assert seen["steward_answer"]["responded_by_user"]["name"] == "steward"

    assert seen["manager_subject"] == "Push the span 0 candidate?"
    manager = seen["manager"]
    assert manager["cells"] and "|---" not in manager["text"], "no rendered table on the manager's page"
    assert seen["manager_answer"]["chosen_options"] == ["Approve"]
    assert seen["manager_answer"]["responded_by_user"]["name"] == "manager"

    tasks = approved_run["tasks"]
    assert approved_run["state"] == "success", tasks
    assert tasks["data_review"] == "success" and tasks["approval_decision"] == "success"
    assert tasks["Pusher"] == "success", tasks
