"""Side by side on real learners (OULAD): our sequence model vs gradient-boosted trees vs total clicks.

Data: Kuzilek J., Hlosta M., Zdrahal Z., *Open University Learning Analytics dataset*, Scientific
Data 4, 170171 (2017), CC BY 4.0. Protocol: ``dropout/oulad_eval.py`` and ``docs/oulad.md``.

    .venv-tfx/bin/python benchmarks/oulad_compare.py                   # N = 2, 4, 8, 12 weeks, both labels
    .venv-tfx/bin/python benchmarks/oulad_compare.py --weeks 4 --models gbt,clicks

Maps OULAD once into ``<work>/data`` (the landing format; reused when present), then for each cutoff
runs our ingestion over the first N weeks, fits every model on AAA 2013J + BBB 2013B and scores
AAA 2014J. Prints the overall table and writes it with the per-slice tables to ``--out`` (markdown)
and ``--out`` with ``.csv`` suffixes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# sequence: the pipeline's model and preprocessing as they are (daily steps, z-scores);
# sequence_log: the same on log1p counts; sequence_weekly: log1p counts summed into weekly steps.
MODELS = ("sequence", "sequence_log", "sequence_weekly", "gbt", "clicks")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--src", default=str(REPO / "../shared/data/oulad"))
    parser.add_argument("--work", default=str(REPO / "work/oulad"))
    parser.add_argument("--weeks", default="2,4,8,12")
    parser.add_argument("--labels", default="dropped_out,at_risk")
    parser.add_argument("--models", default=",".join(MODELS), help=f"any of {', '.join(MODELS)}")
    parser.add_argument(
        "--architecture", default="lstm", help="sequence model architecture (lstm | attention)"
    )
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="markdown file (default: <work>/results.md)")
    parser.add_argument(
        "--merge",
        default=None,
        help="comma-separated markdown files of earlier runs: render their .overall/.slices CSVs as one table into --out",
    )
    args = parser.parse_args()
    if args.merge:
        return merge(args)

    import numpy as np
    from sklearn.model_selection import train_test_split

    from lab.oulad import evaluation as ev
    from lab.oulad import mapping as oulad

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - set(MODELS)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {MODELS}")
    # A fresh random key: pseudonyms only join ingestion output back to the cohort within this run.
    key = os.environ.get("DROPOUT_PSEUDONYM_KEY", "").encode() or os.urandom(32)
    work = Path(args.work)
    data = work / "data"
    t0 = time.perf_counter()
    mapping = oulad.map_oulad(oulad.read_tables(args.src))
    if not (data / oulad.REPORT_FILE).exists():
        oulad.write_landing(mapping, data)
    print(oulad.format_report(mapping.report))
    print(f"adapter: {time.perf_counter() - t0:.1f} s; landing in {data}", flush=True)

    results: list[ev.CutoffResult] = []
    for weeks in [int(w) for w in args.weeks.split(",")]:
        cutoff = 7 * weeks
        learners = ev.cohort(mapping.info, cutoff)
        train = np.flatnonzero(learners["split"].to_numpy() == "train")
        evaluation = np.flatnonzero(learners["split"].to_numpy() == "eval")
        fit_rows, val_rows = train_test_split(
            train, test_size=0.2, random_state=args.seed, stratify=learners["dropped_out"].to_numpy()[train]
        )
        t = time.perf_counter()
        hand = ev.hand_features(mapping, learners, cutoff)
        inputs: dict[str, dict] = {}
        if any(m.startswith("sequence") for m in models):
            arrays, counts = ev.sequence_examples(data, learners, cutoff, key, threads=1)
            inputs["sequence"] = ev.normalise_sequences(arrays, fit_rows)
            inputs["sequence_log"] = ev.normalise_sequences(arrays, fit_rows, log_counts=True)
            inputs["sequence_weekly"] = ev.normalise_sequences(
                ev.weekly_sequences(arrays), fit_rows, log_counts=True
            )
            print(
                f"[{weeks} wk] ingestion: {counts['input_records']:,} landing records, "
                f"{counts['accepted']:,} accepted, {counts['quarantined']:,} quarantined, "
                f"{counts['examples']:,} examples ({time.perf_counter() - t:.1f} s)",
                flush=True,
            )
        for label in [s.strip() for s in args.labels.split(",")]:
            y = learners[label].to_numpy().astype(np.int64)
            risk, chosen = {}, {}
            for model in models:
                t = time.perf_counter()
                if model.startswith("sequence"):
                    predict = ev.fit_sequence_model(
                        inputs[model],
                        y,
                        fit_rows,
                        val_rows,
                        architecture=args.architecture,
                        epochs=args.epochs,
                        batch_size=args.batch_size,
                        seed=args.seed,
                    )
                elif model == "gbt":
                    predict = ev.fit_gbt(hand, y, fit_rows, seed=args.seed)
                else:
                    predict = ev.fit_clicks(hand["total_clicks"].to_numpy(), y, fit_rows)
                chosen[model] = ev.best_f1_threshold(y[val_rows], predict(val_rows))
                risk[model] = predict(evaluation)
                print(
                    f"[{weeks} wk] {label:11s} {model:12s} fitted in {time.perf_counter() - t:.1f} s",
                    flush=True,
                )
            results.append(
                ev.CutoffResult(weeks, label, learners.iloc[evaluation].reset_index(drop=True), risk, chosen)
            )

    overall = ev.overall_rows(results)
    slices = ev.slice_rows(results)
    header = (
        "# OULAD side by side: fit on AAA 2013J + BBB 2013B, score AAA 2014J, first N weeks only\n\n"
        f"Models: {', '.join(models)} (sequence architecture {args.architecture}, seed {args.seed}). "
        "Operating threshold 0.8; 'chosen thr' maximises F1 on the 20 % of training learners held out of fitting."
    )
    text = ev.markdown(overall, slices, header)
    out = Path(args.out) if args.out else work / "results.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    overall.to_csv(out.with_suffix(".overall.csv"), index=False)
    slices.to_csv(out.with_suffix(".slices.csv"), index=False)
    print(ev.markdown(overall, slices.iloc[0:0], header))
    print(f"wrote {out} (+ .overall.csv, .slices.csv); total {time.perf_counter() - t0:.0f} s")
    return 0


def merge(args: argparse.Namespace) -> int:
    """One markdown from several runs (e.g. one process per cutoff), in the order given."""
    import pandas as pd

    from lab.oulad import evaluation as ev

    parts = [Path(p.strip()) for p in args.merge.split(",") if p.strip()]
    overall = pd.concat([pd.read_csv(p.with_suffix(".overall.csv")) for p in parts], ignore_index=True)
    slices = pd.concat(
        [pd.read_csv(p.with_suffix(".slices.csv"), keep_default_na=False, na_values=[""]) for p in parts],
        ignore_index=True,
    )
    for frame in (overall, slices):
        frame["weeks"] = frame["weeks"].astype(int)
    overall = overall.sort_values(
        ["weeks", "label"],
        kind="stable",
        key=lambda s: s if s.name == "weeks" else s.map({"dropped_out": 0, "at_risk": 1}),
    )
    slices = slices.sort_values(["weeks"], kind="stable")
    models = ", ".join(dict.fromkeys(overall["model"]))
    header = (
        "# OULAD side by side: fit on AAA 2013J + BBB 2013B, score AAA 2014J, first N weeks only\n\n"
        f"Models: {models} (merged from {len(parts)} runs). Operating threshold 0.8; 'chosen thr' maximises F1 "
        "on the 20 % of training learners held out of fitting."
    )
    out = Path(args.out) if args.out else Path(args.work) / "results.md"
    out.write_text(ev.markdown(overall, slices, header))
    overall.to_csv(out.with_suffix(".overall.csv"), index=False)
    slices.to_csv(out.with_suffix(".slices.csv"), index=False)
    print(ev.markdown(overall, slices.iloc[0:0], header))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
