"""Monitoring CLI: the drift monitor's check (what the drift-monitor DAG runs in the TFX environment).

    python -m dropout.monitoring drift-check [--config config/default.toml] [--span N]
                                             [--max-auc-drop 0.05] [--max-f1-drop 0.1]

Prints one JSON object as its last line (the task's XCom).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from dropout.contract.settings import load_settings
from dropout.monitoring.drift import check_drift


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dropout.monitoring",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("drift-check", help="drift of the newest landing span against the champion's")
    check.add_argument("--config", default="config/default.toml", help="settings TOML file")
    check.add_argument("--span", type=int, default=None, help="default: the newest complete span")
    check.add_argument(
        "--max-auc-drop", type=float, default=0.05, help="concept drift: AUC drop vs promotion"
    )
    check.add_argument("--max-f1-drop", type=float, default=0.1, help="concept drift: F1 drop vs promotion")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = check_drift(
        load_settings(args.config), args.span, max_auc_drop=args.max_auc_drop, max_f1_drop=args.max_f1_drop
    )
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
