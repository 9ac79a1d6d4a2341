"""Answer the training DAG's human-in-the-loop tasks through Airflow's REST API, as the assigned people.

Used by the demo (``run_demo.sh``) and the end-to-end tests; a steward or manager does the same in the
UI (Browse -> Required Actions). Each answer logs in as the user the task is assigned to, so the API's
``assigned_users`` check is exercised, never bypassed.

    python infra/airflow/hitl.py --dag-id dropout_training --steward "Accept once" --manager Approve

waits for the newest run of the DAG, answers every pending review with the given policy, and exits
when the run has finished (printing its task states as JSON).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger("hitl")

# Which user answers which HITL task (the task's first assigned user is used when this has no entry).
RESPONDENT = {"steward_review": "steward", "manager_approval": "manager"}
FINISHED = {"success", "failed"}


class AirflowAPI:
    """Minimal REST API v2 client with SimpleAuthManager logins (one token per user)."""

    def __init__(self, base_url: str, passwords: dict[str, str]) -> None:
        self.base_url = base_url.rstrip("/")
        self.passwords = passwords
        self._tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self._tokens:
            response = requests.post(
                f"{self.base_url}/auth/token",
                json={"username": user, "password": self.passwords[user]},
                timeout=30,
            )
            response.raise_for_status()
            self._tokens[user] = response.json()["access_token"]
        return self._tokens[user]

    def request(self, method: str, path: str, user: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"}
        return requests.request(
            method, f"{self.base_url}/api/v2{path}", headers=headers, timeout=60, **kwargs
        )

    def get(self, path: str, user: str, **params: Any) -> dict[str, Any]:
        response = self.request("GET", path, user, params=params)
        response.raise_for_status()
        return response.json()

    def latest_run(self, dag_id: str, user: str) -> dict[str, Any] | None:
        """The newest run, or None (also while the DAG is not in the database yet: 404)."""
        response = self.request(
            "GET", f"/dags/{dag_id}/dagRuns", user, params={"order_by": "-run_after", "limit": 1}
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        runs = response.json()["dag_runs"]
        return runs[0] if runs else None

    def pending_reviews(self, dag_id: str, run_id: str, user: str) -> list[dict[str, Any]]:
        details = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/hitlDetails", user)["hitl_details"]
        return [d for d in details if not d["response_received"]]

    def respond(self, dag_id: str, run_id: str, task_id: str, option: str, user: str) -> requests.Response:
        return self.request(
            "PATCH",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails",
            user,
            json={"chosen_options": [option]},
        )

    def task_states(self, dag_id: str, run_id: str, user: str) -> dict[str, str | None]:
        tis = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", user, limit=100)["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in tis}


def answer_run(
    api: AirflowAPI,
    dag_id: str,
    answers: dict[str, str],
    admin: str,
    *,
    run_id: str | None = None,
    after: str | None = None,
    timeout_s: float = 3600,
    poll_s: float = 5,
    probe_unassigned: bool = False,
) -> dict[str, Any]:
    """Answer the pending reviews of ``run_id`` (default: the newest run) until the run finishes.

    Args:
        answers: task id -> option to choose (the explicit policy; a review without one is left pending).
        admin: the user that reads run and task states.
        after: ISO time; without ``run_id``, wait for a run whose ``run_after`` is not earlier (a run left
            unfinished by an interrupted earlier demo must not be mistaken for the one just started).
        probe_unassigned: first try each answer as a user the task is not assigned to (expect 403).

    Returns:
        ``{"run_id", "state", "tasks": {task_id: state}, "answered": [{task_id, option, by}],
        "probes": [{task_id, user, status}]}``.
    """
    deadline = time.monotonic() + timeout_s
    answered: list[dict[str, str]] = []
    probes: list[dict[str, Any]] = []
    while run_id is None:
        run = api.latest_run(dag_id, admin)
        if run is not None and run["state"] not in FINISHED and _not_before(run["run_after"], after):
            run_id = run["dag_run_id"]
        elif time.monotonic() > deadline:
            raise TimeoutError(f"no running {dag_id} run appeared in {timeout_s:.0f} s")
        else:
            time.sleep(poll_s)
    log.info("watching %s run %s", dag_id, run_id)
    while True:
        run = api.get(f"/dags/{dag_id}/dagRuns/{run_id}", admin)
        for detail in api.pending_reviews(dag_id, run_id, admin):
            task_id = detail["task_instance"]["task_id"]
            if task_id not in answers:
                continue
            assigned = [u["id"] for u in detail.get("assigned_users") or []]
            user = RESPONDENT.get(task_id) or (assigned[0] if assigned else admin)
            option = answers[task_id]
            outsider = next((u for u in api.passwords if u not in assigned and u != admin), None)
            if probe_unassigned and outsider:
                status = api.respond(dag_id, run_id, task_id, option, outsider).status_code
                log.info("%s (not assigned to %s) tried to answer: HTTP %d", outsider, task_id, status)
                probes.append({"task_id": task_id, "user": outsider, "status": status})
            log.info(
                "POLICY: %s answers %s of run %s with %r (subject: %s)",
                user,
                task_id,
                run_id,
                option,
                detail["subject"],
            )
            response = api.respond(dag_id, run_id, task_id, option, user)
            if response.status_code == 409:  # answered meanwhile (UI, timeout)
                continue
            response.raise_for_status()
            answered.append({"task_id": task_id, "option": option, "by": user})
        if run["state"] in FINISHED:
            return {
                "run_id": run_id,
                "state": run["state"],
                "answered": answered,
                "probes": probes,
                "tasks": api.task_states(dag_id, run_id, admin),
            }
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dag_id} run {run_id} still {run['state']} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def _not_before(when: str, after: str | None) -> bool:
    return after is None or datetime.fromisoformat(when) >= datetime.fromisoformat(after)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dag-id", default="dropout_training")
    parser.add_argument("--run-id", default=None, help="default: the newest unfinished run")
    parser.add_argument(
        "--after", default=None, help="ISO time: only a run created at or after it (default: any)"
    )
    parser.add_argument("--steward", default="Accept once", help="option the steward chooses when asked")
    parser.add_argument("--manager", default="Approve", help="option the manager chooses when asked")
    parser.add_argument("--admin", default="platform", help="user that reads run states")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    home = Path(os.environ.get("AIRFLOW_HOME", "work/airflow"))
    passwords_file = os.environ.get(
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(home / "passwords.json")
    )
    base_url = os.environ.get("AIRFLOW__API__BASE_URL", "http://localhost:8080")
    api = AirflowAPI(base_url, json.loads(Path(passwords_file).read_text()))
    result = answer_run(
        api,
        args.dag_id,
        {"steward_review": args.steward, "manager_approval": args.manager},
        args.admin,
        run_id=args.run_id,
        after=args.after,
        timeout_s=args.timeout,
        poll_s=2,
    )
    print(json.dumps(result, indent=2))

    return 0 if result["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
