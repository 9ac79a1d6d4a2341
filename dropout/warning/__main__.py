"""Early-warning CLI (what the Airflow tasks run in the TFX environment).

    python -m dropout.warning score --config config/default.toml --run-id <id> [--as-of YYYY-MM-DD]
    python -m dropout.warning skew --config config/default.toml --run-id <id>
    python -m dropout.warning act --config config/default.toml --run-id <id> [--decision D --by NAME --at ISO]
    python -m dropout.warning outcomes --config config/default.toml [--today YYYY-MM-DD]
    python -m dropout.warning run --config config/default.toml [--run-id <id>] [--as-of YYYY-MM-DD]
    python -m dropout.warning lead-time --config config/default.toml --first-day YYYY-MM-DD [--as-of YYYY-MM-DD]

``score`` writes the risk list and reasons and sends nothing; ``skew`` compares the run's serving
examples with the champion's training statistics (report under ``<warning.out_dir>/runs/``); ``act``
sends the interventions, or holds them (``--decision "Hold interventions"``; without a decision a
run with skew is held, one without is acted on). ``run`` is score, skew and act in one process
(``make warn``). ``lead-time`` measures how early the store's flags came over a season of runs
(``dropout.warning.lead_time``), beside the "no activity for N days" rule, once outcomes are in.
Each prints its JSON summary as the last line of output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import sys
from pathlib import Path

from dropout.contract.settings import Settings, load_settings, pseudonym_key

from . import actions as A
from . import job


def _config(settings: Settings, run_id: str | None, as_of: str | None) -> job.WarningRun:
    w = settings.warning
    run_id = run_id or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return job.WarningRun(
        run_id=re.sub(r"[^A-Za-z0-9_.+-]", "_", run_id),
        data_root=Path(settings.data.root),
        model_dir=Path(settings.pipeline.serving_root) / settings.pipeline.model_name,
        out_dir=Path(w.out_dir),
        key=pseudonym_key(settings.ingestion),
        window_days=settings.data.window_days,
        threshold=settings.evaluation.threshold,
        top_fraction=settings.evaluation.top_fraction,
        high_actions=A.parse_actions(w.high_actions, "warning.high_actions"),
        top_actions=A.parse_actions(w.top_actions, "warning.top_actions"),
        silent_actions=A.parse_actions(w.silent_actions, "warning.silent_actions"),
        silent_days=w.silent_days,
        channels=A.Channels(w.smtp_host, w.smtp_port, w.smtp_sender, w.staff_email, w.webhook_url),
        outcome_days=w.outcome_days,
        as_of=dt.date.fromisoformat(as_of) if as_of else None,
    )


def _skew(settings: Settings, config: job.WarningRun) -> dict:
    from dropout.feedback import store
    from dropout.pipeline.champion import champion_training

    con = store.connect(store.store_path(config.out_dir))
    model_path = store.get_run(con, config.run_id)["model_path"]
    con.close()
    pipe = settings.pipeline
    # The champion this run scored with: the push of that directory (a later push does not change it).
    training = champion_training(pipe.metadata_path, pipe.name, model_path)
    return job.check_skew(config.out_dir, config.run_id, training)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dropout.warning",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=("score", "skew", "act", "outcomes", "run", "lead-time"))
    parser.add_argument("--config", default="config/default.toml")
    parser.add_argument(
        "--run-id", default=None, help="run id (the Airflow run id); score/run default: the UTC time"
    )
    parser.add_argument(
        "--as-of", default=None, help="score: last landing day to score (default: the newest)"
    )
    parser.add_argument(
        "--decision",
        default=None,
        choices=job.DECISIONS,
        help="act: the steward's answer, or 'No skew'; default: hold when skew was found",
    )
    parser.add_argument("--by", default="", help="act: who decided")
    parser.add_argument("--at", default="", help="act: when (ISO 8601); default now")
    parser.add_argument("--reason", default="", help="act: why (recorded with a hold)")
    parser.add_argument("--today", default=None, help="outcomes: the date outcomes are checked on")
    parser.add_argument("--first-day", default=None, help="lead-time: the season's first landing day")
    parser.add_argument(
        "--rule-days", default="3,7,14", help="lead-time: the silence rules to compare with (days)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config)
    if args.command in ("skew", "act") and not args.run_id:
        parser.error(f"{args.command} needs --run-id (the run that was scored)")
    if args.command == "lead-time" and not args.first_day:
        parser.error("lead-time needs --first-day (the season's first landing day)")
    if args.command == "lead-time":
        from dropout.ingestion.adapters import newest_landing_day

        from . import lead_time

        root = Path(settings.data.root)
        last = dt.date.fromisoformat(args.as_of) if args.as_of else newest_landing_day(root / "landing")
        summary = lead_time.season(
            root,
            Path(settings.warning.out_dir),
            pseudonym_key(settings.ingestion),
            dt.date.fromisoformat(args.first_day),
            last,
            silent_days=settings.warning.silent_days,
            rule_days=tuple(int(d) for d in args.rule_days.split(",") if d.strip()),
            label_column=settings.data.label_column,
        )
    elif args.command == "outcomes":
        w = settings.warning
        today = dt.date.fromisoformat(args.today) if args.today else dt.datetime.now(dt.UTC).date()
        summary = job.check_outcomes(
            Path(settings.data.root),
            Path(w.out_dir),
            pseudonym_key(settings.ingestion),
            w.outcome_days,
            today,
        )
    else:
        config = _config(settings, args.run_id, args.as_of)
        if args.command == "score":
            summary = job.score(config)
        elif args.command == "skew":
            summary = _skew(settings, config)
        elif args.command == "act":
            summary = job.act(config, args.decision, args.by, args.at, args.reason)
        else:
            scored = job.score(config)
            checked = _skew(settings, config)
            summary = {
                **scored,
                "skew": {k: v for k, v in checked.items() if k != "body"},
                "interventions": job.act(config),
            }
    print(json.dumps(summary, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
