"""Batch scoring benchmark of the early-warning job: learners per second at 100k learners.

Times what the job does after ingestion: the champion's ``raw_features`` signature (the pushed
Transform graph and the LSTM) over ``--learners`` serving examples in batches of ``--batch-size``,
then ranking and flagging, then integrated-gradients reasons for ``--explain`` flagged learners.
Examples are resampled from a small ingested generated population (real ingestion output, not
random numbers); ingestion itself has its own benchmark (``bench_ingest.py``).

    python benchmarks/bench_scoring.py --model-dir /tmp/serving/dropout_risk --learners 100000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model-dir", help="<serving_root>/dropout_risk (default: export a small model first)"
    )
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument(
        "--explain", type=int, default=1000, help="flagged learners to explain (IG, 16 steps)"
    )
    args = parser.parse_args()

    from dropout.contract import features as F
    from dropout.contract.settings import EvaluationSettings
    from dropout.pipeline import champion as champion_lib
    from dropout.warning import reasons as R
    from dropout.warning import scoring
    from dropout.warning.examples import serving_examples
    from lab.fixture_model import FIXTURE_KEY, export_models, ingest_generated

    work = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    model_dir = Path(args.model_dir) if args.model_dir else work / "serving" / "dropout_risk"
    if not args.model_dir:
        export_models(model_dir, [1], work_dir=work / "train")
    ingest_generated(work / "data", 500, 10, seed=21)  # generates landing data for 500 learners
    pool, _ = serving_examples(work / "data", FIXTURE_KEY, 10)
    pick = np.random.default_rng(0).integers(0, len(pool[F.LEARNER_KEY]), size=args.learners)
    columns = {k: v[pick] for k, v in pool.items()}

    champion = champion_lib.load(model_dir)
    champion_lib.score(champion, {k: v[:64] for k, v in columns.items()})  # first call traces; not timed
    cpu0, t0 = time.process_time(), time.perf_counter()
    risk = champion_lib.score(champion, columns, batch_size=args.batch_size)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    evaluation = EvaluationSettings()  # the default operating threshold and top fraction
    rank, band = scoring.rank_and_flag(risk, evaluation.threshold, evaluation.top_fraction)
    flagged = np.flatnonzero(band != "")[: args.explain]
    t1 = time.perf_counter()
    attributions, _, _ = scoring.integrated_gradients(champion, columns, flagged)
    for j, i in enumerate(flagged):
        row = {k: columns[k][i] for k in F.sequence_keys()}
        R.reason(
            row, R.group_attributions({k: v[j] for k, v in attributions.items()}, row[F.ENROLLED_MASK_KEY])
        )
    explain = time.perf_counter() - t1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"scored {args.learners:,} learners in {wall:.1f} s wall, {cpu:.1f} CPU-s: "
        f"{args.learners / wall:,.0f} learners/s ({args.learners / cpu:,.0f} per CPU-second), batch {args.batch_size}"
    )
    print(
        f"flagged {int((band != '').sum()):,}; explained {len(flagged):,} with integrated gradients (16 steps) "
        f"in {explain:.1f} s: {len(flagged) / explain:,.0f} learners/s"
    )
    print(f"peak RSS {rss:,.0f} MiB")


if __name__ == "__main__":
    main()
