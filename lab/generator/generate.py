"""Synthetic learning platform: writes a landing area that follows the raw data contract in ``events.py``.

What ``generate(out_dir, config)`` writes::

    <out>/landing/<YYYY-MM-DD>/events-<YYYY-MM-DD>-<part>.jsonl   (.csv: header row of EVENT_FIELDS)
    <out>/learners.csv     LEARNER_COLUMNS, one row per learner (each learner takes one course)
    <out>/outcomes.csv     OUTCOME_COLUMNS: dropped_out, churned (paid only), final_score
    <out>/manifest.json    what was generated and every injected fault, per day (see ``Manifest``)

The settings are ``config.GeneratorConfig``; learners and their behaviour live in ``learners``, the
line formats and faults in ``landing``. Faults are added on top of the valid events, never in place of them, so
ingestion must accept exactly ``valid_events`` and quarantine exactly ``injected`` per reason. The
same seed gives byte-identical files; memory stays bounded because days are generated one by one.

Command line (``--help`` lists every option)::

    python -m lab.generator --out work/data --learners 2000 --days 30 --seed 7 \\
        --malformed-rate 0.01 --duplicate-rate 0.01 --clock-skew-rate 0.01
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dropout.contract.events import LANDING_DIR, LEARNERS_FILE, OUTCOMES_FILE, QUARANTINE_REASONS
from lab.generator.config import GeneratorConfig
from lab.generator.landing import LearnerLiterals, unknown_learner_ids, write_day
from lab.generator.learners import ARCHETYPES, make_population, rng_for

MANIFEST_FILE = "manifest.json"

# Raw identifiers as they appear in generated files; a privacy test greps outputs with these.
RAW_ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "learner_id": re.compile(r"\bLRN\d{8}\b"),
    "email": re.compile(r"\b[a-z0-9._-]+@learners\.example\b"),
    "ip": re.compile(r"\b(?:198\.51\.100|203\.0\.113)\.\d{1,3}\b"),  # RFC 5737 documentation ranges
    "device_id": re.compile(r"\bdev-[0-9a-f]{12}\b"),
}


@dataclass
class Manifest:
    """What ``generate`` wrote, so a test can reconcile ingestion exactly.

    ``lines_total == valid_events + sum(injected.values())``, overall and in each ``per_day`` entry
    (``{"lines", "valid_events", "injected", "skewed_within_tolerance", "non_utc_offsets", "files"}``,
    ``files`` mapping each file name to its line count, header excluded). ``injected`` has one count
    per QUARANTINE_REASONS entry, zeros included.
    """

    seed: int
    learners: int
    days: int
    first_day: str
    format: str
    paid: bool
    lines_total: int = 0
    valid_events: int = 0
    injected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(QUARANTINE_REASONS, 0))
    per_day: dict[str, dict[str, Any]] = field(default_factory=dict)
    skewed_within_tolerance: int = 0  # valid events outside their landing day by at most MAX_SKEW_S
    non_utc_offsets: int = 0  # valid events written with a non-UTC offset
    dropout_rate: float = 0.0  # observed share of dropped_out == 1
    churn_rate: float | None = None  # observed share of churned == 1; None when not paid
    archetypes: dict[str, int] = field(default_factory=dict)
    drift: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        """Read a manifest written by ``generate``; ``path`` is the file or the folder holding it."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST_FILE
        return cls(**json.loads(path.read_text()))


def generate(out_dir: str | Path, config: GeneratorConfig, *, overwrite: bool = False) -> Manifest:
    """Write landing files, learners.csv, outcomes.csv and manifest.json under ``out_dir``.

    Args:
        out_dir: target folder; created if missing.
        config: what to generate; validated first.
        overwrite: replace an earlier run's landing/, learners.csv, outcomes.csv and manifest.json.

    Returns:
        The manifest, as written to ``out_dir/manifest.json``.

    Raises:
        ValueError: on an invalid config, naming the setting.
        FileExistsError: when ``out_dir`` already holds generated data and ``overwrite`` is false.
    """
    config.validate()
    out = Path(out_dir)
    landing = out / LANDING_DIR
    existing = [
        p.name for p in (landing, out / LEARNERS_FILE, out / OUTCOMES_FILE, out / MANIFEST_FILE) if p.exists()
    ]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out} already holds generated data ({', '.join(existing)}); "
            "choose an empty --out or pass --overwrite to replace it"
        )
    if landing.exists():
        shutil.rmtree(landing)
    landing.mkdir(parents=True)

    first = dt.date.fromisoformat(config.first_day)
    pop = make_population(config, first)
    literals = LearnerLiterals(pop)
    unknown = unknown_learner_ids(pop, rng_for(config.seed, 3))
    manifest = Manifest(
        seed=config.seed,
        learners=config.learners,
        days=config.days,
        first_day=config.first_day,
        format=config.format,
        paid=config.paid,
        dropout_rate=round(float(pop.outcomes["dropped_out"].mean()), 4),
        churn_rate=round(float(pop.outcomes["churned"].mean()), 4) if config.paid else None,
        archetypes={name: int((pop.archetype == i).sum()) for i, name in enumerate(ARCHETYPES)},
        drift=pop.drift,
    )
    for day in range(config.days):
        stats = write_day(pop, literals, config, day, first, landing, unknown)
        manifest.per_day[f"{first + dt.timedelta(days=day)}"] = stats
        manifest.lines_total += stats["lines"]
        manifest.valid_events += stats["valid_events"]
        manifest.skewed_within_tolerance += stats["skewed_within_tolerance"]
        manifest.non_utc_offsets += stats["non_utc_offsets"]
        for reason, count in stats["injected"].items():
            manifest.injected[reason] += count

    pop.learners.to_csv(out / LEARNERS_FILE, index=False, lineterminator="\n")
    pop.outcomes.to_csv(out / OUTCOMES_FILE, index=False, lineterminator="\n")
    (out / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    return manifest


def _parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, GeneratorConfig]:
    defaults = GeneratorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m lab.generator",
        description="Write a synthetic landing area (events, learners, outcomes).",
    )
    parser.add_argument(
        "--out", required=True, help="folder for landing/, learners.csv, outcomes.csv, manifest.json"
    )
    parser.add_argument("--learners", type=int, required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--format", choices=("jsonl", "csv"), default=defaults.format)
    parser.add_argument("--paid", action="store_true", help="paid platform: billing events and churn labels")
    parser.add_argument("--malformed-rate", type=float, default=defaults.malformed_rate)
    parser.add_argument("--duplicate-rate", type=float, default=defaults.duplicate_rate)
    parser.add_argument("--clock-skew-rate", type=float, default=defaults.clock_skew_rate)
    parser.add_argument(
        "--offset-rate", type=float, default=defaults.offset_rate, help="share written non-UTC"
    )
    parser.add_argument("--dropout-rate", type=float, default=defaults.dropout_rate)
    parser.add_argument("--drift-cohort-from-day", type=int, default=None, metavar="K")
    parser.add_argument("--app-version-change-day", type=int, default=None, metavar="K")
    parser.add_argument("--first-day", default=defaults.first_day, help="YYYY-MM-DD of day 0")
    parser.add_argument("--part-lines", type=int, default=defaults.part_lines, help="most lines per file")
    parser.add_argument("--overwrite", action="store_true", help="replace data from an earlier run in --out")
    args = parser.parse_args(argv)
    config = GeneratorConfig(
        learners=args.learners,
        days=args.days,
        seed=args.seed,
        format=args.format,
        paid=args.paid,
        malformed_rate=args.malformed_rate,
        duplicate_rate=args.duplicate_rate,
        clock_skew_rate=args.clock_skew_rate,
        offset_rate=args.offset_rate,
        dropout_rate=args.dropout_rate,
        drift_cohort_from_day=args.drift_cohort_from_day,
        app_version_change_day=args.app_version_change_day,
        first_day=args.first_day,
        part_lines=args.part_lines,
    )
    try:
        config.validate()
    except ValueError as exc:
        parser.error(str(exc))
    return args, config


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    args, config = _parse_args(argv)
    started = time.perf_counter()
    try:
        manifest = generate(args.out, config, overwrite=args.overwrite)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    took = time.perf_counter() - started
    faults = sum(manifest.injected.values())
    print(
        f"wrote {manifest.lines_total:,} lines ({manifest.valid_events:,} valid events, {faults:,} to quarantine) "
        f"for {config.learners:,} learners x {config.days} days to {args.out} in {took:.1f} s "
        f"({manifest.lines_total / max(took, 1e-9):,.0f} lines/s); dropout rate {manifest.dropout_rate:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
