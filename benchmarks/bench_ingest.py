"""Benchmark: raw landing events -> daily learner features, events per second per core.

Generates its own landing data (DuckDB writes it, vectorised: a 10M-event zone takes seconds), then
runs ``ingest_span`` in a fresh child process per measurement so that peak RSS is that run's own.
With ``--source generator`` it uses ``lab.generator.generate`` instead (realistic, slower to
write); the event count then follows from learners x days.

    .venv-tfx/bin/python benchmarks/bench_ingest.py                      # 1M and 10M, JSONL and CSV, 1 and 2 threads
    .venv-tfx/bin/python benchmarks/bench_ingest.py --events 1000000 --formats csv --threads 1

Output: one line per run with events/s, events/s per core (events/s / threads), events per CPU
second (user + sys of the run: the honest per-core figure on a shared machine, where wall time
includes waiting for other processes), wall seconds, peak RSS, and the stage split reported in
``counts["seconds"]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_DAY = dt.date(2026, 9, 1)
KEY = b"benchmark-key"


def write_builtin(root: Path, events: int, learners: int, days: int, fmt: str) -> None:
    """Write ``events`` valid events over ``days`` landing days plus learners.csv / outcomes.csv."""
    import duckdb

    con = duckdb.connect()
    root.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""COPY (SELECT 'LRN' || lpad(i::VARCHAR, 8, '0') AS learner_id, 'l' || i || '@learners.example' AS email,
                'C' || (i % 5) AS course_id, '2026-' || (i % 3) AS cohort, 'r' || (i % 7) AS region,
                'web' AS device, 'free' AS plan, '0' AS price, '' AS age_band, 'f' AS gender,
                '2026-08-01' AS enrolled_on FROM range({learners}) t(i))
            TO '{root / "learners.csv"}' (HEADER)"""
    )
    con.execute(
        f"""COPY (SELECT 'LRN' || lpad(i::VARCHAR, 8, '0') AS learner_id, 'C' || (i % 5) AS course_id,
                (i % 3 = 0)::INT AS dropped_out, '' AS churned, '' AS final_score FROM range({learners}) t(i))
            TO '{root / "outcomes.csv"}' (HEADER)"""
    )
    types = "['login','video_play','video_complete','quiz_submit','forum_post','page_view','explanation_view','resource_download']"
    per_day = events // days
    for d in range(days):
        day = FIRST_DAY + dt.timedelta(days=d)
        out = root / "landing" / day.isoformat() / f"events.{fmt}"
        out.parent.mkdir(parents=True, exist_ok=True)
        n = per_day if d < days - 1 else events - per_day * (days - 1)
        fmt_sql = "(FORMAT json)" if fmt == "jsonl" else "(HEADER)"
        con.execute(
            f"""COPY (
                SELECT 'ev-{d}-' || i AS event_id, 'LRN' || lpad(l::VARCHAR, 8, '0') AS learner_id,
                    'C' || (l % 5) AS course_id,
                    strftime(TIMESTAMP '{day.isoformat()}' + to_seconds(hash(i) % 86400), '%Y-%m-%dT%H:%M:%SZ') AS ts,
                    {types}[1 + (hash(i * 7) % 8)::INT] AS event_type,
                    (hash(i * 3) % 600)::VARCHAR AS duration_s,
                    CASE WHEN hash(i) % 2 = 0 THEN 'true' ELSE 'false' END AS correct,
                    '1' AS attempt, '3.2.1' AS app_version, 'l' || l || '@learners.example' AS email,
                    '198.51.100.' || (l % 250) AS ip, 'dev-' || lpad(l::VARCHAR, 12, '0') AS device_id
                FROM (SELECT i, hash(i * 13) % {learners} AS l FROM range({n}) t(i))
            ) TO '{out}' {fmt_sql}"""
        )
    con.close()


def write_generator(root: Path, learners: int, days: int, fmt: str) -> None:
    from lab.generator import GeneratorConfig, generate

    generate(root, GeneratorConfig(learners=learners, days=days, format=fmt, first_day=FIRST_DAY.isoformat()))


def child(root: Path, days: int, threads: int) -> None:
    """Run one ingestion and print its measurements as JSON (called in a fresh process)."""
    from dropout.ingestion import ingest_span

    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    started = time.perf_counter()
    result = ingest_span(
        root / "landing",
        root / "learners.csv",
        root / "outcomes.csv",
        first_day=FIRST_DAY,
        span=0,
        window_days=days,
        key=KEY,
        threads=threads,
    )
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    peak_kib = usage.ru_maxrss
    print(
        json.dumps(
            {
                "events": result.counts["input_records"],
                "accepted": result.counts["accepted"],
                "examples": result.counts["examples"],
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mib": peak_kib / 1024,
                "stages_s": result.counts["seconds"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--formats", nargs="+", default=["jsonl", "csv"], choices=["jsonl", "csv"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--learners", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--source", choices=["builtin", "generator"], default="builtin")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to write landing data (default: a temp dir)"
    )
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.days, args.threads[0])
        return

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for fmt in args.formats:
            for events in args.events:
                root = Path(tmp) / f"{fmt}-{events}"
                started = time.perf_counter()
                if args.source == "builtin":
                    write_builtin(root, events, args.learners, args.days, fmt)
                else:
                    write_generator(root, max(1, events // (args.days * 40)), args.days, fmt)
                size = sum(p.stat().st_size for p in (root / "landing").rglob("*") if p.is_file())
                print(
                    f"# {fmt} {events:,} events: {size / 1e6:,.0f} MB written in {time.perf_counter() - started:.1f}s",
                    flush=True,
                )
                for threads in args.threads:
                    out = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--child",
                            str(root),
                            "--days",
                            str(args.days),
                            "--threads",
                            str(threads),
                        ],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    m = json.loads(out.stdout.strip().splitlines()[-1])
                    rate = m["events"] / m["wall_s"]
                    print(
                        f"{fmt:5s} events={m['events']:>11,} threads={threads} wall={m['wall_s']:7.2f}s "
                        f"cpu={m['cpu_s']:7.2f}s events/s={rate:>11,.0f} events/s/core={rate / threads:>11,.0f} "
                        f"events/cpu-s={m['events'] / m['cpu_s']:>11,.0f} "
                        f"peak_rss={m['peak_rss_mib']:7.0f} MiB stages={m['stages_s']}",
                        flush=True,
                    )
                shutil_rmtree(root)


def shutil_rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
