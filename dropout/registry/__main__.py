"""Registry CLI (each command prints one JSON object as its last line, for Airflow's XCom).

python -m dropout.registry record  --run-id ID [--reason drift --drift-json '{...}' --dag-id dropout_training]
python -m dropout.registry promote --run-id ID        # champion after approval + push
python -m dropout.registry rollback [--to-version N]  # champion back to an earlier version
python -m dropout.registry monitor --result-json '{...}' [--dag-id ... --airflow-run-id ...]
python -m dropout.registry ping                       # is the tracking server reachable?
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from dropout.contract.settings import load_settings
from dropout.registry import aliases, record
from dropout.registry.connection import TrackingError, check_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dropout.registry",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default="config/default.toml", help="settings TOML file")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="record a pipeline run; register + challenger when blessed")
    rec.add_argument("--run-id", required=True, help="TFX pipeline run id (= Airflow run id)")
    rec.add_argument(
        "--span", type=int, default=None, help="accepted for symmetry; the span is read from MLMD"
    )
    rec.add_argument(
        "--reason", default="manual", help="weekly | drift | manual (run.json wins when present)"
    )
    rec.add_argument(
        "--drift-json", default="", help="the drift figures that triggered the run (JSON object)"
    )
    rec.add_argument("--dag-id", default="")
    rec.add_argument("--airflow-run-id", default="")
    pro = sub.add_parser("promote", help="champion after the manager's approval and a successful push")
    pro.add_argument("--run-id", required=True)
    rb = sub.add_parser("rollback", help="move champion to an earlier version and re-push it")
    rb.add_argument(
        "--to-version", default=None, help="default: the latest earlier version that was champion"
    )
    mon = sub.add_parser("monitor", help="record a drift-monitor decision")
    mon.add_argument("--result-json", required=True)
    mon.add_argument("--dag-id", default="dropout_drift_monitor")
    mon.add_argument("--airflow-run-id", default="")
    sub.add_parser("ping", help="check that the tracking server answers")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config)
    try:
        if args.command == "record":
            result = record.record_training(
                settings,
                args.run_id,
                reason=args.reason,
                dag_id=args.dag_id,
                airflow_run_id=args.airflow_run_id,
                drift=json.loads(args.drift_json) if args.drift_json else None,
            )
        elif args.command == "promote":
            result = aliases.promote_champion(settings, args.run_id)
        elif args.command == "rollback":
            result = aliases.rollback(settings, args.to_version)
        elif args.command == "monitor":
            result = record.record_monitor_decision(
                settings, json.loads(args.result_json), dag_id=args.dag_id, airflow_run_id=args.airflow_run_id
            )
        else:
            check_server(settings.tracking)
            result = {"tracking_uri": settings.tracking.uri, "reachable": True}
    except TrackingError as exc:
        print(f"tracking: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
