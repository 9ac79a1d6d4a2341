"""The raw data contract: landing layout, event records, learner and outcome tables.

Landing layout (one directory per UTC day, any number of files per day)::

    <landing_root>/<YYYY-MM-DD>/*.jsonl   one JSON object per line
    <landing_root>/<YYYY-MM-DD>/*.csv     header row, same field names
    <data_root>/learners.csv              static context, one row per learner and course
    <data_root>/outcomes.csv              labels, one row per learner and course

Event record fields (JSON lines or CSV columns):

=============== ======== =========================================================================
field           required meaning
=============== ======== =========================================================================
event_id        yes      unique per event; a repeated id is a duplicate delivery
learner_id      yes      the platform's raw learner id (pseudonymised at ingestion, never stored)
course_id       yes      course the event belongs to
ts              yes      ISO-8601 timestamp with offset (``2026-11-20T08:15:00+01:00``) or UTC
event_type      yes      one of EVENT_TYPES
duration_s      no       seconds (video_play, page_view, explanation_view, login session)
correct         no       quiz_submit: true / false
attempt         no       quiz_submit: attempt number, 1-based
amount          no       purchase / subscription_renew: amount in the plan's currency
app_version     no       client version string
email, ip, device_id  no raw personal data some clients send; dropped at ingestion
=============== ======== =========================================================================
"""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = (
    "login",
    "video_play",
    "video_complete",
    "quiz_submit",
    "forum_post",
    "forum_reply",
    "forum_like",
    "resource_download",
    "page_view",
    "explanation_view",
    "purchase",
    "subscription_renew",
    "subscription_cancel",
)

EVENT_FIELDS: tuple[str, ...] = (
    "event_id",
    "learner_id",
    "course_id",
    "ts",
    "event_type",
    "duration_s",
    "correct",
    "attempt",
    "amount",
    "app_version",
    "email",
    "ip",
    "device_id",
)
REQUIRED_EVENT_FIELDS: tuple[str, ...] = ("event_id", "learner_id", "course_id", "ts", "event_type")

# Raw personal data that must never leave ingestion.
PERSONAL_FIELDS: tuple[str, ...] = ("learner_id", "email", "ip", "device_id")

# learners.csv columns. enrolled_on is a YYYY-MM-DD date; age_band and gender may be empty
# where a platform does not collect them.
LEARNER_COLUMNS: tuple[str, ...] = (
    "learner_id",
    "email",
    "course_id",
    "cohort",
    "region",
    "device",
    "plan",
    "price",
    "age_band",
    "gender",
    "enrolled_on",
)

# outcomes.csv columns. dropped_out: 1/0. churned: 1/0 on paid platforms (empty otherwise).
# final_score: 0..100, empty when the learner never finished.
OUTCOME_COLUMNS: tuple[str, ...] = ("learner_id", "course_id", "dropped_out", "churned", "final_score")

LEARNERS_FILE = "learners.csv"
OUTCOMES_FILE = "outcomes.csv"
LANDING_DIR = "landing"

# Why a raw record was quarantined. Every input record ends up accepted or quarantined with exactly
# one of these reasons, so input counts always reconcile: lines = accepted + quarantined.
QUARANTINE_REASONS: tuple[str, ...] = (
    "invalid_record",  # not a JSON object / CSV row with the wrong number of fields
    "missing_field",  # a required field is absent or empty
    "bad_timestamp",  # ts does not parse as an ISO-8601 timestamp
    "out_of_window",  # ts lies outside its landing day by more than the clock-skew tolerance
    "unknown_event_type",  # event_type not in EVENT_TYPES
    "bad_value",  # duration_s / attempt / amount not a non-negative number, correct not a boolean
    "unknown_learner",  # learner_id and course_id not in the learner table
    "duplicate",  # event_id already seen (earlier in the span); the first delivery is kept
)
