"""Early-warning CLI (what the Airflow tasks run in the TFX environment).

    python -m dropout.warning score --config config/default.toml --run-id <id> [--as-of YYYY-MM-DD]
    python -m dropout.warning outcomes --config config/default.toml [--today YYYY-MM-DD]

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

from dropout.settings import load_settings, pseudonym_key

from . import actions as A
from .job import WarningRun, check_outcomes, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dropout.warning")
    parser.add_argument("command", choices=("score", "outcomes"))
    parser.add_argument("--config", default="config/default.toml")
    parser.add_argument("--run-id", default=None, help="run id (the Airflow run id); default: the UTC time")
    parser.add_argument("--as-of", default=None, help="last landing day to score (default: the newest)")
    parser.add_argument("--today", default=None, help="outcomes: the date outcomes are checked on")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config)
    w = settings.warning
    key = pseudonym_key(settings.ingestion)
    if args.command == "outcomes":
        today = dt.date.fromisoformat(args.today) if args.today else dt.datetime.now(dt.UTC).date()
        summary = check_outcomes(Path(settings.data.root), Path(w.out_dir), key, w.outcome_days, today)
    else:
        run_id = args.run_id or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        config = WarningRun(
            run_id=re.sub(r"[^A-Za-z0-9_.+-]", "_", run_id),
            data_root=Path(settings.data.root),
            model_dir=Path(settings.pipeline.serving_root) / settings.pipeline.model_name,
            out_dir=Path(w.out_dir),
            key=key,
            window_days=settings.data.window_days,
            threshold=settings.evaluation.threshold,
            top_fraction=settings.evaluation.top_fraction,
            high_actions=A.parse_actions(w.high_actions, "warning.high_actions"),
            top_actions=A.parse_actions(w.top_actions, "warning.top_actions"),
            channels=A.Channels(w.smtp_host, w.smtp_port, w.smtp_sender, w.staff_email, w.webhook_url),
            outcome_days=w.outcome_days,
            as_of=dt.date.fromisoformat(args.as_of) if args.as_of else None,
        )
        summary = run(config)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
