"""The decisions people make in the loop: the answers they can give, and what silence means.

One definition for the Airflow review forms (``dags/dropout_airflow``), the records the TFX
environment writes (``dropout.review``, ``dropout.warning``) and the tests. Standard library only.
"""

from __future__ import annotations

from datetime import timedelta

# --- Why a training run exists ------------------------------------------------------------------
WEEKLY = "weekly"  # the schedule
DRIFT = "drift"  # the drift monitor found data or concept drift
MANUAL = "manual"  # a person started it
RUN_REASONS: tuple[str, ...] = (WEEKLY, DRIFT, MANUAL)

# --- Data steward: a span with schema or drift anomalies -----------------------------------------
ACCEPT_AND_UPDATE_SCHEMA = "Accept and update schema"  # train, and write a reviewed schema version
ACCEPT_ONCE = "Accept once"  # train, schema unchanged
REJECT_BATCH = "Reject batch"  # do not train on this span; it is never a drift baseline
STEWARD_OPTIONS: tuple[str, ...] = (ACCEPT_AND_UPDATE_SCHEMA, ACCEPT_ONCE, REJECT_BATCH)
NO_ANOMALIES = "No anomalies"  # recorded when there was nothing to review
DATA_DECISIONS: tuple[str, ...] = (*STEWARD_OPTIONS, NO_ANOMALIES)
# Unreviewed anomalous data must not train a model: silence rejects the batch.
STEWARD_DEFAULT = REJECT_BATCH
STEWARD_TIMEOUT = timedelta(days=3)

# --- Manager: a candidate the gates blessed --------------------------------------------------------
APPROVE = "Approve"  # Pusher deploys the candidate
REJECT = "Reject"  # nothing is pushed; the champion keeps serving
APPROVAL_OPTIONS: tuple[str, ...] = (APPROVE, REJECT)
# Silence keeps the champion serving.
APPROVAL_DEFAULT = REJECT
APPROVAL_TIMEOUT = timedelta(days=2)

# --- Data steward: serving data skewed against the champion's training data (early warning) -------
ACT_ON_SCORES = "Act on scores"  # send the run's interventions
HOLD_INTERVENTIONS = "Hold interventions"  # send nothing, record why
SKEW_OPTIONS: tuple[str, ...] = (ACT_ON_SCORES, HOLD_INTERVENTIONS)
NO_SKEW = "No skew"  # recorded when there was nothing to review
SKEW_DECISIONS: tuple[str, ...] = (*SKEW_OPTIONS, NO_SKEW)
# Untrusted data must not reach learners: silence holds the run's interventions. The next daily run
# scores fresh data, so a review left longer than this is stale anyway.
SKEW_REVIEW_DEFAULT = HOLD_INTERVENTIONS
SKEW_REVIEW_TIMEOUT = timedelta(hours=12)

# Who answered when the timeout applied the default (Airflow records no user then).
TIMEOUT_ANSWERER = "timeout (default applied)"
