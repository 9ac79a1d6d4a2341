"""Lead time (dropout.warning.lead_time): the silent split, the silence rule and the season figures, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dropout.warning import lead_time as LT


def _mask(*rows: str) -> np.ndarray:
    return np.array([[c == "1" for c in r] for r in rows])


def test_silent_looks_at_the_last_enrolled_days_only():
    active = _mask("1000000000", "0001000000", "0000000000", "1100000000")
    enrolled = _mask("1111111111", "1111111111", "0000000011", "1100000000")
    # 0: active 9 days ago only -> silent over 7; 1: active on day 3 (6 days before the end) -> active;
    # 2: enrolled 2 days, never active -> silent; 3: enrolled on the first 2 days only and active there.
    assert LT.silent(active, enrolled, 7).tolist() == [True, False, True, False]
    assert LT.silent(active, enrolled, 10).tolist() == [False, False, True, False]
    assert LT.activity_labels(active, enrolled, 7).tolist() == ["silent", "active", "silent", "active"]
    with pytest.raises(ValueError, match="at least 1"):
        LT.silent(active, enrolled, 0)


def test_the_rule_fires_after_n_quiet_enrolled_days():
    active = _mask("1100000000", "1010101010", "0011000000", "0000000000")
    enrolled = _mask("1111111111", "1111111111", "0011111111", "0000011111")
    assert LT.rule_first_flag(active, enrolled, 3).tolist() == [4, LT.NEVER, 6, 7]
    assert LT.rule_first_flag(active, enrolled, 7).tolist() == [8, LT.NEVER, LT.NEVER, LT.NEVER]


def test_lead_time_counts_early_and_late_flags():
    # Four dropouts (last active on days 5, 5, 2, never) and one learner who stays.
    active = _mask("1111110000", "0000010000", "1110000000", "0000000000", "1111111111")
    dropped = np.array([1, 1, 1, 1, 0], bool)
    # Learner 0 flagged on day 1 (active, 4 days before going quiet); learner 1 on day 9 (4 days after
    # its last activity, inside 7 days: still counted active); learner 2 never; learner 3 on day 8
    # (never active: silent); the stayer flagged on day 2 (a false alarm, active).
    flags = np.array([1, 9, LT.NEVER, 8, 2])
    out = LT.lead_time(active, flags, dropped, silent_days=7)
    assert out["dropouts"] == 4 and out["flagged"] == 4 and out["flagged_dropouts"] == 3
    assert out["recall"] == 0.75 and out["precision"] == 0.75
    assert out["share_dropouts_flagged_while_active"] == 0.5  # learners 0 and 1 of 4 dropouts
    assert out["share_flagged_already_silent"] == 0.25  # learner 3 of 4 flagged
    assert out["lead_days"] == {-4: 1, 4: 1}  # learner 3 was never active: no lead
    assert out["median_lead_days"] == 0.0
    # With a 3-day silence, learner 1 (last active 4 days before its flag) was already silent.
    assert LT.lead_time(active, flags, dropped, silent_days=3)["share_flagged_already_silent"] == 0.5


def test_the_rule_can_never_flag_anyone_while_active():
    rng = np.random.default_rng(0)
    active = rng.random((200, 30)) < 0.3
    active[:100, 12:] = False  # half drop out on day 12
    enrolled = np.ones_like(active)
    dropped = np.arange(200) < 100
    rule = LT.lead_time(active, LT.rule_first_flag(active, enrolled, 7), dropped, silent_days=7)
    assert rule["share_dropouts_flagged_while_active"] == 0.0
    assert rule["share_flagged_already_silent"] == 1.0
    assert rule["median_lead_days"] is not None and rule["median_lead_days"] <= -7


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="one per learner"):
        LT.lead_time(np.zeros((3, 5), bool), np.array([1, 2]), np.array([1, 0, 1]))
