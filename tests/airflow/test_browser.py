"""The reviews in the Airflow UI, in headless Chromium: a steward logs in, sees the pending data review with
its summary and answers it; a manager sees the approval with its metrics table and approves.

One real ``dropout_training`` run (``airflow dags test``) on a small generated span whose schema copy does
not list the device "android", so ExampleValidator reports an unexpected value and the steward is
asked. Needs Debian's chromium and chromium-driver (``scripts/setup-browser.sh``) and selenium (in
``.venv-airflow``); skipped, with the reason, when the browser is missing. Screenshots of every step
land in the test's temporary directory (printed). Slow: one full pipeline run (~8-15 min on two busy cores).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DAG = "dropout_training"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

GENERATE = """
import sys
from lab.generator import GeneratorConfig, generate
generate(sys.argv[1], GeneratorConfig(learners=600, days=10, seed=5))
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory, world_settings):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium/chromedriver not installed: run `bash scripts/setup-browser.sh`")
    pytest.importorskip("selenium")
    root = tmp_path_factory.mktemp("dropout-browser")
    (root / "browser.toml").write_text(world_settings(root, epochs=8, auc_floor=0.55))
    (root / "pseudonym.key").write_text(secrets.token_hex(32))
    shutil.copytree(REPO / "schemas", root / "schemas")
    schema = root / "schemas" / "schema.pbtxt"
    text = schema.read_text()
    assert 'value: "web" value: "ios" value: "android"' in text
    schema.write_text(text.replace('value: "web" value: "ios" value: "android"', 'value: "web" value: "ios"'))
    subprocess.run(
        [str(REPO / ".venv-tfx" / "bin" / "python"), "-c", GENERATE, str(root / "data")], cwd=REPO, check=True
    )
    (root / "screens").mkdir()
    print(f"\nscreenshots: {root / 'screens'}")
    return root


def chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1400"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    return driver


def wait_for(condition, timeout: float, what: str, poll: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def login(driver, base_url: str, user: str, password: str, shots: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base_url + "/")
    wait_for(lambda: driver.find_elements(By.NAME, "username"), 120, "the login form")
    assert "/auth/login" in driver.current_url  # nobody unauthenticated gets further
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.save_screenshot(str(shots / f"{user}-0-login.png"))
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: "/auth/login" not in driver.current_url, 60, f"{user} to be logged in")


def click_option(driver, option: str) -> None:
    from selenium.webdriver.common.by import By

    buttons = [
        b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == option and b.is_enabled()
    ]
    assert buttons, (
        f"no enabled button {option!r}; buttons: {[b.text for b in driver.find_elements(By.TAG_NAME, 'button')]}"
    )
    buttons[0].click()


def pending(api, run_id: str, task_id: str) -> dict | None:
    for detail in api.pending_reviews(DAG, run_id, "platform"):
        if detail["task_instance"]["task_id"] == task_id:
            return detail
    return None


def answer_in_browser(
    airflow, run_id: str, task_id: str, user: str, option: str, shots: Path, must_show: list[str]
) -> str:
    """``user`` logs in, opens the task's required action, checks it shows ``must_show``, chooses ``option``;
    returns the page text it saw."""
    api = airflow.api
    driver = chrome()
    try:
        login(driver, api.base_url, user, api.passwords[user], shots)
        url = f"{api.base_url}/dags/{DAG}/runs/{run_id}/tasks/{task_id}/required_actions"
        driver.get(url)
        text = wait_for(
            lambda: (t := page_text(driver)) and all(s in t for s in must_show) and t,
            120,
            f"{task_id} page showing {must_show}; last screenshot {shots}",
        )
        driver.save_screenshot(str(shots / f"{user}-1-{task_id}.png"))
        # The body's markdown table is rendered as a table, not shown as pipes.
        from selenium.webdriver.common.by import By

        cells = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "table td")]
        assert cells and "|---" not in text, f"no rendered table on the {task_id} page"
        click_option(driver, option)  # one click answers a single-choice review
        wait_for(
            lambda: f"from {user}" in page_text(driver) and "Response received" in page_text(driver),
            60,
            f"the UI to confirm {user}'s answer",
        )
        driver.save_screenshot(str(shots / f"{user}-2-{task_id}-answered.png"))
        return text + "\n" + "\n".join(cells)
    except Exception:
        driver.save_screenshot(str(shots / f"{user}-error-{task_id}.png"))
        (shots / f"{user}-error-{task_id}.txt").write_text(page_text(driver))
        raise
    finally:
        driver.quit()


def answered(api, run_id: str, task_id: str) -> dict | None:
    details = api.get(f"/dags/{DAG}/dagRuns/{run_id}/hitlDetails", "platform")["hitl_details"]
    return next(
        (d for d in details if d["task_instance"]["task_id"] == task_id and d["response_received"]), None
    )


def test_steward_and_manager_answer_in_the_ui(airflow, world):
    api, shots = airflow.api, world / "screens"
    conf = json.dumps({"span": 0, "config": str(world / "browser.toml"), "reason": "manual"})
    log = open(world / "dags-test.log", "w")
    proc = airflow.shell(f"exec airflow dags test {DAG} -c '{conf}'", stdout=log, stderr=subprocess.STDOUT)
    try:
        run = wait_for(
            lambda: (r := api.latest_run(DAG, "platform")) and r["state"] not in ("success", "failed") and r,
            600,
            "the DAG run to start",
        )
        run_id = run["dag_run_id"]

        def waiting(task_id):
            assert proc.poll() is None, (
                f"dags test ended before {task_id}: " + (world / "dags-test.log").read_text()[-3000:]
            )
            return pending(api, run_id, task_id)

        steward_task = wait_for(lambda: waiting("steward_review"), 3600, "the steward review", poll=5)
        assert re.search(r"Span 0: \d+ anomalies to review", steward_task["subject"])
        # The summary: feature, anomaly type, description, and where the full report is.
        seen = answer_in_browser(
            airflow,
            run_id,
            "steward_review",
            "steward",
            "Accept once",
            shots,
            must_show=[
                "anomalies to review",
                "device",
                "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
                "Full report",
                "Accept once",
                "Reject batch",
            ],
        )
        assert "android" in seen  # the description names the value the schema does not allow
        steward = wait_for(lambda: answered(api, run_id, "steward_review"), 120, "the steward's answer")
        assert steward["chosen_options"] == ["Accept once"]
        assert steward["responded_by_user"]["name"] == "steward"

        manager_task = wait_for(lambda: waiting("manager_approval"), 3600, "the manager approval", poll=5)
        assert manager_task["subject"] == "Push the span 0 candidate?"
        seen = answer_in_browser(
            airflow,
            run_id,
            "manager_approval",
            "manager",
            "Approve",
            shots,
            must_show=[
                "Blessed",
                "candidate",
                "champion",
                "overall",
                "auc",
                "recall",
                "precision_at_top",
                "recall gap",
                "Approve",
                "Reject",
            ],
        )
        manager = wait_for(lambda: answered(api, run_id, "manager_approval"), 120, "the manager's answer")
        assert manager["chosen_options"] == ["Approve"] and manager["responded_by_user"]["name"] == "manager"
        assert proc.wait(timeout=1800) == 0, (world / "dags-test.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    tasks = api.task_states(DAG, run_id, "platform")
    assert tasks["data_review"] == "success" and tasks["approval_decision"] == "success"
    assert tasks["Pusher"] == "success", tasks
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    approval = json.loads((world / "pipeline" / "reviews" / safe / "approval.json").read_text())
    assert (approval["decision"], approval["by"]) == ("Approve", "manager")
    assert list((world / "serving" / "dropout_risk").glob("*/saved_model.pb"))
