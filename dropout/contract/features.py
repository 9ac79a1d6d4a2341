"""Feature contract shared by ingestion, Transform, the model, TFMA, serving and the early-warning job.

One example is one learner in one span: ``window_days`` daily values for each sequence feature
(oldest day first), two per-day masks, and static context. Everything that names a feature
imports it from here.
"""

from __future__ import annotations

# The eight daily behaviour features, in the order the model stacks them.
SEQUENCE_FEATURES: tuple[str, ...] = (
    "logins",  # login events that day
    "video_completion_rate",  # video_complete / video_play (0 when no play)
    "quiz_submissions",  # quiz_submit events
    "wrong_attempts",  # quiz_submit events with correct == false
    "forum_posts",  # forum_post + forum_reply events
    "downloads",  # resource_download events
    "mean_dwell_seconds",  # mean duration_s over events that carry a duration
    "explanation_watched",  # explanation_view events
)

# Per-day masks. ACTIVE: the learner produced at least one accepted event that day (an inactive
# enrolled day is signal, not padding). ENROLLED: the learner was enrolled that day (days before
# enrolment are padding and are masked out of the sequence model).
ACTIVE_MASK_KEY = "active_mask"
ENROLLED_MASK_KEY = "enrolled_mask"
MASK_FEATURES: tuple[str, ...] = (ACTIVE_MASK_KEY, ENROLLED_MASK_KEY)

DEFAULT_WINDOW_DAYS = 10

# Intervention context, joined at ingestion from the early-warning store (point in time: only what was
# sent, and outcomes checked, on or before the example window's last day). An intervened learner who
# came back is a different learner from one never contacted; the model should see that.
# interventions: sent to this learner in this course so far, 0 when none. intervention_outcome: of the
# latest intervention whose outcome was known, -1 none or unknown yet, 0 did not come back, 1 came back.
INTERVENTIONS_KEY = "interventions"
INTERVENTION_OUTCOME_KEY = "intervention_outcome"
INTERVENTION_CONTEXT: tuple[str, ...] = (INTERVENTIONS_KEY, INTERVENTION_OUTCOME_KEY)

# Static context: categorical model inputs (vocabularies in Transform) and numeric ones.
CATEGORICAL_CONTEXT: tuple[str, ...] = ("course_id", "cohort", "region", "device", "plan")
LEARNER_NUMERIC_CONTEXT: tuple[str, ...] = ("price",)  # numeric columns of the learner table
NUMERIC_CONTEXT: tuple[str, ...] = (*LEARNER_NUMERIC_CONTEXT, *INTERVENTION_CONTEXT)

# Fairness attributes: evaluation slices only, never model inputs (unless a config says otherwise).
FAIRNESS_ATTRIBUTES: tuple[str, ...] = ("age_band", "gender")

# Identifiers carried through for joining risk lists; pseudonymised at ingestion, never model inputs.
LEARNER_KEY = "learner"  # keyed-hash pseudonym of the raw learner id
PSEUDONYM_CHARS = 20  # a pseudonym is this many lowercase hex characters (dropout.ingestion.pseudonymise)
SPAN_KEY = "span"

LABEL_KEY = "label"  # 1 = dropped out (or churned, on paid platforms)
SCORE_KEY = "final_score"  # 0..100 final score, the multi-task regression target; -1 when unknown

# Columns that slice the evaluation (TFMA) besides the overall view. The intervention context slices
# show how the model does on learners already acted on (count 1, 2, ...; outcome 0 / 1 / -1 unknown).
SLICE_COLUMNS: tuple[str, ...] = (
    "course_id",
    "cohort",
    "region",
    "device",
    "plan",
    *FAIRNESS_ATTRIBUTES,
    *INTERVENTION_CONTEXT,
)

# The pushed model's interface (TF Serving signatures and output), the same for every version.
SERVING_SIGNATURE = "serving_default"  # serialized tf.Examples in, the Transform graph applied inside
RAW_FEATURES_SIGNATURE = "raw_features"  # named raw feature tensors in (the early-warning job, reasons)
RISK_OUTPUT = "risk"  # probability of the label, 0..1

# Everything that is a string feature in an example.
STRING_FEATURES: tuple[str, ...] = (LEARNER_KEY, *CATEGORICAL_CONTEXT, *FAIRNESS_ATTRIBUTES)


def transformed_name(key: str) -> str:
    """Name of a feature after Transform."""
    return f"{key}_xf"


def sequence_keys() -> tuple[str, ...]:
    """All per-day keys of an example (features then masks), each a float list of window_days values."""
    return (*SEQUENCE_FEATURES, *MASK_FEATURES)
