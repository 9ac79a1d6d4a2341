"""Plain-language reasons for a flagged learner, from attributions and the learner's own recent days.

Attributions say *which* behaviour pushed the risk up; the sentence states *what the data shows*
for that behaviour over the learner's most recent enrolled days (at most ``RECENT_DAYS``), so every
number in a reason can be recomputed from the example it describes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dropout.contract import features as F

RECENT_DAYS = 7
# Attribution groups: the per-day inputs whose integrated gradients are summed into one reason.
GROUPS: dict[str, tuple[str, ...]] = {
    "activity": (F.ACTIVE_MASK_KEY,),
    "logins": ("logins", "mean_dwell_seconds"),
    "quiz": ("quiz_submissions", "wrong_attempts"),
    "video": ("video_completion_rate",),
    "forum": ("forum_posts",),
    "downloads": ("downloads",),
    "explanations": ("explanation_watched",),
}


def recent_days(enrolled: np.ndarray, days: int = RECENT_DAYS) -> np.ndarray:
    """Indices of the learner's last ``days`` enrolled days in the window (oldest first)."""
    idx = np.flatnonzero(np.asarray(enrolled) > 0.5)
    return idx[-days:]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def describe(group: str, row: Mapping[str, np.ndarray]) -> str:
    """One sentence about ``group`` for one learner's raw per-day values (``row[key]``: ``[window_days]``)."""
    days = recent_days(row[F.ENROLLED_MASK_KEY])
    n = len(days)
    if n == 0:
        return "not enrolled on any day of the window"
    span = f"the last {n} days" if n > 1 else "the last day"
    active = np.asarray(row[F.ACTIVE_MASK_KEY])[days] > 0.5
    if group == "activity":
        return f"no activity on {int((~active).sum())} of {span}"
    if group == "logins":
        logins = int(round(float(np.asarray(row["logins"])[days].sum())))
        dwell_days = days[active]
        dwell = float(np.asarray(row["mean_dwell_seconds"])[dwell_days].mean()) if len(dwell_days) else 0.0
        if logins == 0:
            return f"no login in {span}"
        if logins == 1:
            return f"the only login in {span} came with a mean dwell of {dwell:.0f} seconds"
        return f"{logins} logins in {span} with a mean dwell of {dwell:.0f} seconds"
    if group == "quiz":
        submitted = int(round(float(np.asarray(row["quiz_submissions"])[days].sum())))
        wrong = int(round(float(np.asarray(row["wrong_attempts"])[days].sum())))
        if submitted == 0:
            return f"no quiz submitted in {span}"
        return f"{wrong} of {_plural(submitted, 'quiz submission')} in {span} wrong"
    if group == "video":
        active_days = days[active]
        if len(active_days) == 0:
            return f"no video watched in {span}"
        rate = float(np.asarray(row["video_completion_rate"])[active_days].mean())
        return f"mean video completion {100 * rate:.0f} % on the active days of {span}"
    counts = {
        "forum": ("forum_posts", "forum post"),
        "downloads": ("downloads", "resource download"),
        "explanations": ("explanation_watched", "explanation watched"),
    }
    if group in counts:
        key, word = counts[group]
        total = int(round(float(np.asarray(row[key])[days].sum())))
        if group == "explanations":
            return (
                f"{total} explanations watched in {span}"
                if total != 1
                else f"1 explanation watched in {span}"
            )
        return f"{_plural(total, word)} in {span}"
    raise ValueError(f"unknown reason group {group!r}; known: {sorted(GROUPS)}")


def group_attributions(attributions: Mapping[str, np.ndarray], enrolled: np.ndarray) -> dict[str, float]:
    """Sum one learner's per-day attributions (``[window_days]`` per input) over enrolled days, per group."""
    on = np.asarray(enrolled) > 0.5
    return {
        group: float(sum(np.asarray(attributions[k])[on].sum() for k in keys))
        for group, keys in GROUPS.items()
    }


def reason(row: Mapping[str, np.ndarray], grouped: Mapping[str, float], most: int = 2) -> str:
    """The reason for one learner: the ``most`` groups that raised the risk most, described from the data.

    Groups with a non-positive attribution lowered the risk and are not reasons; when none raised
    it, the reason says so.
    """
    raising = sorted((g for g, v in grouped.items() if v > 0), key=lambda g: -grouped[g])[:most]
    if not raising:
        return (
            "no single behaviour stands out; the risk comes from the learner's context (course, plan, cohort)"
        )
    return "; ".join(describe(g, row) for g in raising)
