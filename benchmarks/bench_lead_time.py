"""Lead time of the early warning on generated learners: the model's daily flags against "no activity for N days".

    .venv-tfx/bin/python benchmarks/bench_lead_time.py [--learners 1000 --days 30 --window 10 --epochs 3]

What it does, every step through the product's own code:

1. Trains two small models with the project's Transform and model (``lab.fixture_model``) on one
   generated population: **end-of-window** (one 10-day window at the start of the course, as one span
   trains today) and **multi-cut** (the same learners cut every ``--cut-every`` days, each window
   labelled with the eventual outcome: the question the daily job asks).
2. Generates another population (the learners being warned about) and runs the early-warning job's
   ``score`` step every day from the first full window to the last day (``dropout.warning.job``:
   ingestion, the champion's risk, bands at ``evaluation.threshold`` and the top 10 %, the risk list in
   the store), once per model.
3. Measures lead time from each store against the landing data (``dropout.warning.lead_time.season``)
   beside the silence rules, and prints one table and the JSON.

The figures in docs/figures.md come from this command; a small variant of the measurement runs in
tests/test_early_warning.py (one run) and tests/test_lead_time.py (the definitions).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dropout.contract.settings import load_settings  # noqa: E402
from dropout.warning import job, lead_time  # noqa: E402
from lab.fixture_model import FIXTURE_KEY, export_models  # noqa: E402
from lab.generator import GeneratorConfig, generate  # noqa: E402

ROWS = (
    ("share_dropouts_flagged_while_active", "dropouts flagged while active", "{:.1%}"),
    ("median_lead_days", "median lead (days, first flag -> last activity)", "{:+.1f}"),
    ("share_flagged_already_silent", "flagged already silent 7 days", "{:.1%}"),
    ("precision", "precision (flagged who dropped out)", "{:.1%}"),
    ("recall", "recall (dropouts ever flagged)", "{:.1%}"),
    ("flagged", "learners flagged", "{:d}"),
)


def daily_scores(model_dir: Path, data: Path, out: Path, first: dt.date, days: int, window: int, settings):
    """Score every day from the first full window to the last day; one early-warning run per day."""
    for d in range(window - 1, days):
        as_of = first + dt.timedelta(days=d)
        job.score(
            job.WarningRun(
                run_id=f"day-{as_of.isoformat()}",
                data_root=data,
                model_dir=model_dir,
                out_dir=out,
                key=FIXTURE_KEY,
                window_days=window,
                threshold=settings.evaluation.threshold,
                top_fraction=settings.evaluation.top_fraction,
                as_of=as_of,
                ig_steps=2,  # reasons are not measured here; keep the explanations cheap
                silent_days=settings.warning.silent_days,
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=1000, help="learners warned about (and trained on)")
    parser.add_argument("--days", type=int, default=30, help="days of generated landing data")
    parser.add_argument("--window", type=int, default=10, help="window_days of the model and the job")
    parser.add_argument("--cut-every", type=int, default=4, help="multi-cut: a training window every N days")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--work", default=None, help="working directory (default: a new temporary one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings(REPO / "config" / "default.toml")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-lead-time-"))
    cfg = GeneratorConfig(learners=args.learners, days=args.days, seed=202)
    first = dt.date.fromisoformat(cfg.first_day)
    t0, c0 = time.perf_counter(), time.process_time()

    last_cut = args.days - args.window
    trainings = {
        "end-of-window": (0,),
        "multi-cut": tuple(range(0, last_cut + 1, args.cut_every)),
    }
    scored = work / "scored-data"
    generate(scored, cfg)
    results: dict[str, dict] = {}
    for name, cuts in trainings.items():
        model_dir = work / name / "model"
        export_models(
            model_dir,
            [1],
            learners=args.learners,
            window_days=args.window,
            epochs=args.epochs,
            seed=7,
            work_dir=work / name / "train",
            cut_offsets=cuts,
            data_days=args.days,
        )
        daily_scores(model_dir, scored, work / name / "warning", first, args.days, args.window, settings)
        season = lead_time.season(
            scored,
            work / name / "warning",
            FIXTURE_KEY,
            first,
            first + dt.timedelta(days=args.days - 1),
            silent_days=settings.warning.silent_days,
            rule_days=(3, 7, 14),
        )
        results[name] = season["model"]
        for rule in ("rule_3_days", "rule_7_days", "rule_14_days"):
            results[rule] = season[rule]
        results["counts"] = season["counts"]
    counts = results.pop("counts")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    names = list(results)
    print(
        f"lead time: {counts['learners']} learners x {args.days} days, window {args.window}, daily scoring from day "
        f"{args.window}, threshold {settings.evaluation.threshold} or top {settings.evaluation.top_fraction:.0%}"
    )
    print(f"| measure | {' | '.join(names)} |")
    print(f"|---|{'---|' * len(names)}")
    for key, label, fmt in ROWS:
        cells = [fmt.format(results[n][key]) if results[n][key] is not None else "-" for n in names]
        print(f"| {label} | {' | '.join(cells)} |")
    print(f"whole run {wall:.0f} s wall, {cpu:.0f} CPU-s in this process (work dir {work})")
    print(json.dumps({"results": results, "counts": counts, "args": vars(args)}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
