"""What the generator generates: ``GeneratorConfig`` (sizes, seed, faults, drifts)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. Rates are shares of a day's valid events; day 0 is ``first_day``."""

    learners: int = 1_000
    days: int = 30
    seed: int = 0
    format: str = "jsonl"  # jsonl | csv
    paid: bool = False  # paid platform: no free plan, purchase/renew/cancel events, churned labels
    malformed_rate: float = 0.0  # extra malformed lines, spread evenly over the malformed reasons
    duplicate_rate: float = 0.0  # extra exact re-deliveries of valid lines
    clock_skew_rate: float = 0.0  # valid events moved up to MAX_SKEW_S across their day's edge
    offset_rate: float = 0.05  # valid events written with a non-UTC offset (same instant)
    dropout_rate: float = 0.3
    drift_cohort_from_day: int | None = None  # learners enrolling from this day form a new cohort
    app_version_change_day: int | None = None  # from this day: app 3.0, dwell halved, logins doubled
    first_day: str = "2026-09-01"
    part_lines: int = 500_000  # most lines per landing file

    def validate(self) -> None:
        """Raise ValueError naming each bad setting and what to use instead."""
        problems = []
        if self.learners < 1 or self.days < 1:
            problems.append(f"learners={self.learners}, days={self.days}: both must be at least 1")
        if self.format not in ("jsonl", "csv"):
            problems.append(f"format={self.format!r}: use 'jsonl' or 'csv'")
        for name in ("malformed_rate", "duplicate_rate", "clock_skew_rate", "offset_rate"):
            if not 0.0 <= getattr(self, name) <= 0.5:
                problems.append(f"{name}={getattr(self, name)}: use a share between 0 and 0.5")
        if not 0.0 < self.dropout_rate < 1.0:
            problems.append(f"dropout_rate={self.dropout_rate}: use a share strictly between 0 and 1")
        for name in ("drift_cohort_from_day", "app_version_change_day"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.days:
                problems.append(f"{name}={value}: use a day index in 0..{self.days - 1} or leave it unset")
        if self.part_lines < 1:
            problems.append(f"part_lines={self.part_lines}: must be at least 1")
        try:
            dt.date.fromisoformat(self.first_day)
        except ValueError:
            problems.append(f"first_day={self.first_day!r}: use a YYYY-MM-DD date")
        if problems:
            raise ValueError("generator config: " + "; ".join(problems))
