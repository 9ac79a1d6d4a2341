"""The steward and the manager answering in the Airflow UI, in headless Debian chromium (selenium).

Used by the ``approved_run`` fixture when chromium and chromedriver are installed
(``scripts/setup-browser.sh``); screenshots of every step land in ``<world>/screens``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import time
from pathlib import Path

DAG = "dropout_training"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def available() -> bool:
    return bool(CHROMIUM and CHROMEDRIVER and importlib.util.find_spec("selenium"))


def chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1500,1400",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
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


def answered(api, run_id: str, task_id: str) -> dict | None:
    details = api.get(f"/dags/{DAG}/dagRuns/{run_id}/hitlDetails", "platform")["hitl_details"]
    return next(
        (d for d in details if d["task_instance"]["task_id"] == task_id and d["response_received"]), None
    )


def answer_in_browser(
    api, run_id: str, task_id: str, user: str, option: str, shots: Path, must_show: list[str]
) -> str:
    """``user`` logs in, opens the task's required action, waits until it shows ``must_show``, chooses
    ``option``; returns the page text it saw (with the rendered table's cells)."""
    from selenium.webdriver.common.by import By

    driver = chrome()
    try:
        login(driver, api.base_url, user, api.passwords[user], shots)
        driver.get(f"{api.base_url}/dags/{DAG}/runs/{run_id}/tasks/{task_id}/required_actions")
        text = wait_for(
            lambda: (t := page_text(driver)) and all(s in t for s in must_show) and t,
            120,
            f"{task_id} page showing {must_show}; screenshots in {shots}",
        )
        driver.save_screenshot(str(shots / f"{user}-1-{task_id}.png"))
        cells = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "table td")]
        click_option(driver, option)  # one click answers a single-choice review
        wait_for(
            lambda: f"from {user}" in page_text(driver) and "Response received" in page_text(driver),
            60,
            f"the UI to confirm {user}'s answer",
        )
        driver.save_screenshot(str(shots / f"{user}-2-{task_id}-answered.png"))
        return json.dumps({"text": text, "cells": cells})
    except Exception:
        driver.save_screenshot(str(shots / f"{user}-error-{task_id}.png"))
        (shots / f"{user}-error-{task_id}.txt").write_text(page_text(driver))
        raise
    finally:
        driver.quit()


STEWARD_SEES = [
    "anomalies to review",
    "device",
    "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
    "Full report",
    "Accept once",
    "Reject batch",
]
MANAGER_SEES = [
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
]


def approved_in_ui(airflow, world: Path) -> dict:
    """Span 0 run, the steward and the manager answering in the browser; what they saw and the run's result."""
    api, shots = airflow.api, world / "screens"
    shots.mkdir(exist_ok=True)
    conf = json.dumps({"span": 0, "config": str(world / "world.toml"), "reason": "manual"})
    log_path = world / "dags-test-approved.log"
    log = open(log_path, "w")
    proc = airflow.shell(f"exec airflow dags test {DAG} -c '{conf}'", stdout=log, stderr=subprocess.STDOUT)
    try:
        run = wait_for(
            lambda: (r := api.latest_run(DAG, "platform")) and r["state"] not in ("success", "failed") and r,
            600,
            "the DAG run to start",
        )
        run_id = run["dag_run_id"]

        def waiting(task_id):
            assert proc.poll() is None, f"dags test ended before {task_id}: " + log_path.read_text()[-3000:]
            return pending(api, run_id, task_id)

        steward_task = wait_for(lambda: waiting("steward_review"), 3600, "the steward review", poll=2)
        steward_seen = answer_in_browser(
            api, run_id, "steward_review", "steward", "Accept once", shots, STEWARD_SEES
        )
        wait_for(lambda: answered(api, run_id, "steward_review"), 120, "the steward's answer")
        manager_task = wait_for(lambda: waiting("manager_approval"), 3600, "the manager approval", poll=2)
        # Only assigned users may answer: the steward's attempt at the manager's task is refused.
        probe = api.respond(DAG, run_id, "manager_approval", "Approve", "steward").status_code
        manager_seen = answer_in_browser(
            api, run_id, "manager_approval", "manager", "Approve", shots, MANAGER_SEES
        )
        wait_for(lambda: answered(api, run_id, "manager_approval"), 120, "the manager's answer")
        returncode = proc.wait(timeout=1800)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    state = api.get(f"/dags/{DAG}/dagRuns/{run_id}", "platform")["state"]
    return {
        "run_id": run_id,
        "state": state,
        "tasks": api.task_states(DAG, run_id, "platform"),
        "answered": [
            {"task_id": "steward_review", "option": "Accept once", "by": "steward"},
            {"task_id": "manager_approval", "option": "Approve", "by": "manager"},
        ],
        "probes": [{"task_id": "manager_approval", "user": "steward", "status": probe}],
        "log": log_path.read_text(),
        "returncode": returncode,
        "browser": {
            "steward": json.loads(steward_seen),
            "manager": json.loads(manager_seen),
            "steward_subject": steward_task["subject"],
            "manager_subject": manager_task["subject"],
            "steward_answer": answered(api, run_id, "steward_review"),
            "manager_answer": answered(api, run_id, "manager_approval"),
            "screens": str(shots),
        },
    }
