"""Who answers the reviews: the people of the DAGs and their Airflow logins.

What they can answer, what silence means and how long a review waits are
``dropout.contract.decisions`` (one definition for the DAGs and the TFX side). The user names are the SimpleAuthManager logins created by ``infra/airflow/start.sh`` (which reads
``AIRFLOW_USERS`` below); with FAB or another auth manager they are that manager's user ids.
HITL tasks list them in ``assigned_users``, so only they can answer (everyone else gets 403).
"""

from __future__ import annotations

import os
from datetime import timedelta

PLATFORM_ENGINEERS: tuple[str, ...] = ("platform",)
STEWARDS: tuple[str, ...] = ("steward",)
MANAGERS: tuple[str, ...] = ("manager",)

# SimpleAuthManager roles: admin for the platform; stewards and managers need "user" (the lowest role
# that may write a HITL response); what they may answer is narrowed by assigned_users.
AIRFLOW_USERS: tuple[tuple[str, str], ...] = (
    *((name, "admin") for name in PLATFORM_ENGINEERS),
    *((name, "user") for name in STEWARDS),
    *((name, "user") for name in MANAGERS),
)


RETRY_DELAY_ENV = "DROPOUT_TASK_RETRY_DELAY_SECONDS"


def retry_delay(default: timedelta) -> timedelta:
    """How long a failed task waits before its next try: ``$DROPOUT_TASK_RETRY_DELAY_SECONDS`` when set
    (read when the DAG file is parsed; the end-to-end tests use a few seconds), else ``default``."""
    value = os.environ.get(RETRY_DELAY_ENV, "").strip()
    return timedelta(seconds=float(value)) if value else default


def hitl_users(names: tuple[str, ...]) -> list[dict[str, str]]:
    """``assigned_users`` entries (SimpleAuthManager user ids are the user names)."""
    return [{"id": name, "name": name} for name in names]


def simple_auth_users() -> str:
    """The ``[core] simple_auth_manager_users`` value: ``name:role,...``."""
    return ",".join(f"{name}:{role}" for name, role in AIRFLOW_USERS)


if __name__ == "__main__":  # used by infra/airflow/start.sh
    print(simple_auth_users())
