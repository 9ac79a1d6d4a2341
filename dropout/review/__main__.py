"""Review CLI: what the training DAG's review tasks run in the TFX environment.

    python -m dropout.review start --run-id ID --span 1 --reason drift [--run-type asset_triggered]
    python -m dropout.review anomalies --run-id ID --span 1
    python -m dropout.review data-decision --run-id ID --span 1 --decision "Accept once" --by steward
    python -m dropout.review candidate --run-id ID --span 1
    python -m dropout.review approval-decision --run-id ID --span 1 --decision Approve --by manager

(``--config`` defaults to config/default.toml.) Each command prints one JSON object as its last line
(the task's XCom). Heavy imports (ML Metadata, TFDV) happen inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from dropout.contract.decisions import RUN_REASONS
from dropout.contract.settings import load_settings
from dropout.review import approval, data_review, records


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default="config/default.toml", help="settings TOML file")
    common.add_argument("--span", type=int, required=True)
    common.add_argument("--run-id", required=True, help="the pipeline run id (= Airflow run id)")
    parser = argparse.ArgumentParser(
        prog="python -m dropout.review",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", parents=[common], help="record why this run exists")
    start.add_argument("--reason", required=True, choices=RUN_REASONS)
    start.add_argument("--run-type", default="manual")
    sub.add_parser("anomalies", parents=[common], help="write the data steward's report")
    for name in ("data-decision", "approval-decision"):
        p = sub.add_parser(name, parents=[common], help="record a reviewer's decision")
        p.add_argument("--decision", required=True)
        p.add_argument("--by", required=True, help="who decided (user name)")
        p.add_argument("--at", default="", help="when (ISO 8601); now when empty")
    sub.add_parser("candidate", parents=[common], help="write the manager's candidate summary")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config)
    if args.command == "start":
        result = records.record_start(
            settings, args.run_id, args.span, args.reason, args.run_type, args.config
        )
    elif args.command == "anomalies":
        result = data_review.write_anomaly_report(settings, args.run_id)
    elif args.command == "data-decision":
        result = data_review.record_data_decision(
            settings, args.run_id, args.span, args.decision, args.by, args.at
        )
    elif args.command == "candidate":
        result = approval.write_candidate_summary(settings, args.run_id)
    else:
        result = approval.record_approval(settings, args.run_id, args.span, args.decision, args.by, args.at)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
