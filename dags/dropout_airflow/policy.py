"""Who answers which review, and how long a review may wait: the human side of the training DAG.

The user names are the SimpleAuthManager logins created by ``infra/airflow/start.sh`` (which reads
``AIRFLOW_USERS`` below); with FAB or another auth manager they are that manager's user ids.
HITL tasks list them in ``assigned_users``, so only they can answer (everyone else gets 403).
"""

from __future__ import annotations

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

# Data steward review of a span with anomalies.
ACCEPT_AND_UPDATE_SCHEMA = "Accept and update schema"
ACCEPT_ONCE = "Accept once"
REJECT_BATCH = "Reject batch"
STEWARD_OPTIONS = [ACCEPT_AND_UPDATE_SCHEMA, ACCEPT_ONCE, REJECT_BATCH]
# Unreviewed anomalous data must not train a model: silence rejects the batch.
STEWARD_TIMEOUT = timedelta(days=3)
STEWARD_DEFAULT = REJECT_BATCH

# Manager approval of a blessed candidate before it is pushed.
APPROVE = "Approve"
REJECT = "Reject"
# Silence keeps the champion serving.
APPROVAL_TIMEOUT = timedelta(days=2)
APPROVAL_DEFAULT = REJECT


def hitl_users(names: tuple[str, ...]) -> list[dict[str, str]]:
    """``assigned_users`` entries (SimpleAuthManager user ids are the user names)."""
    return [{"id": name, "name": name} for name in names]


def simple_auth_users() -> str:
    """The ``[core] simple_auth_manager_users`` value: ``name:role,...``."""
    return ",".join(f"{name}:{role}" for name, role in AIRFLOW_USERS)


if __name__ == "__main__":  # used by infra/airflow/start.sh
    print(simple_auth_users())
