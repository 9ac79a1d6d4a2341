"""OULAD adapter: the Open University Learning Analytics Dataset -> our landing format and tables.

Source: Kuzilek J., Hlosta M., Zdrahal Z., *Open University Learning Analytics dataset*, Scientific
Data 4, 170171 (2017), CC BY 4.0. The tables keep their original names and columns
(``studentInfo``, ``studentRegistration``, ``studentAssessment``, ``assessments``, ``courses``,
``vle`` and a ``studentVle*`` click file), gzip CSV, in one folder (default ``../shared/data/oulad``).

What becomes what (one module presentation, e.g. ``AAA`` ``2013J``, is one course run):

================================ =================================================================
OULAD                            ours
================================ =================================================================
``id_student``                   ``learner_id`` (raw; pseudonymised by ingestion like any other id)
``code_module-code_presentation`` ``course_id`` (``AAA-2013J``; OULAD's own key: 36 students take
                                 AAA in both 2013J and 2014J); ``cohort`` = ``code_presentation``
presentation day ``d``           landing day ``day0 + d`` (every presentation starts on ``day0``,
                                 so one span covers the same weeks of every presentation); events
                                 at 12:00 UTC (OULAD has days, not times)
``studentVle`` row, ``sum_click`` ``sum_click`` events of the activity type's event type (below)
``date_registration``            ``learners.csv`` ``enrolled_on``
``date_unregistration``          one ``subscription_cancel`` event that day
``studentAssessment`` row        one ``quiz_submit`` on ``date_submitted``, ``correct`` = score >= 40
                                 (the OU pass mark; empty when unscored), ``attempt`` 1
``final_result``                 ``outcomes.csv`` ``dropped_out`` = Withdrawn; the adapter's own
                                 ``oulad_learners.csv`` adds ``at_risk`` = Withdrawn or Fail
``gender``, ``age_band``         fairness columns of ``learners.csv``; ``disability``, ``imd_band``
                                 and ``region`` only in ``oulad_learners.csv`` (fairness slices,
                                 never model inputs: ``learners.csv`` region stays empty)
================================ =================================================================

Activity types -> event types (``ACTIVITY_EVENT_TYPES``): homepage -> login (a visit to the
module home page is how a study session starts); oucontent, resource, url, folder -> resource_download
(study material); page, subpage, sharedsubpage, glossary, ouwiki, dataplus, dualpane, htmlactivity,
repeatactivity -> page_view; quiz, externalquiz, questionnaire -> quiz_submit (no correctness);
forumng -> forum_post (OULAD does not tell reading from posting); ouelluminate, oucollaborate (live
online sessions) -> video_play.

Nothing is dropped silently. Each input table reports ``input_rows``, ``mapped`` and ``unmapped``
per reason (``UNMAPPED_REASONS``) and ``input_rows == mapped + sum(unmapped)`` is checked in code.
Assessment scores of TMAs are published some days after submission; placing the result on the
submission day is an approximation (documented in docs/oulad.md).

CLI::

    python -m lab.oulad.mapping --src ../shared/data/oulad --out work/oulad/data [--cutoff-weeks 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dropout.contract.events import (
    LANDING_DIR,
    LEARNER_COLUMNS,
    LEARNERS_FILE,
    OUTCOME_COLUMNS,
    OUTCOMES_FILE,
)

DEFAULT_SOURCE = "../shared/data/oulad"
DEFAULT_DAY0 = dt.date(2020, 1, 6)  # a Monday: weeks of the presentation are calendar weeks
DEFAULT_PRESENTATIONS: tuple[str, ...] = ("AAA-2013J", "AAA-2014J", "BBB-2013B")
LANDING_FILE = "oulad.csv"
OULAD_LEARNERS_FILE = "oulad_learners.csv"
REPORT_FILE = "oulad_report.json"
PASS_MARK = 40.0
EVENT_HOUR = "12:00:00Z"

ACTIVITY_EVENT_TYPES: dict[str, str] = {
    "homepage": "login",
    "oucontent": "resource_download",
    "resource": "resource_download",
    "url": "resource_download",
    "folder": "resource_download",
    "page": "page_view",
    "subpage": "page_view",
    "sharedsubpage": "page_view",
    "glossary": "page_view",
    "ouwiki": "page_view",
    "dataplus": "page_view",
    "dualpane": "page_view",
    "htmlactivity": "page_view",
    "repeatactivity": "page_view",
    "quiz": "quiz_submit",
    "externalquiz": "quiz_submit",
    "questionnaire": "quiz_submit",
    "forumng": "forum_post",
    "ouelluminate": "video_play",
    "oucollaborate": "video_play",
}

# Why an input row did not become events / a learner row. Every reason is reported, zeros included.
UNMAPPED_REASONS: tuple[str, ...] = (
    "other_presentation",  # the row belongs to a presentation that was not selected
    "unknown_learner",  # no studentInfo row for this student in this presentation
    "missing_registration_date",  # date_registration empty: the learner has no enrolment day
    "unregistered_before_cutoff",  # with a cutoff: outcome already known, learner left out
    "unknown_site",  # id_site not in vle.csv for this presentation
    "unknown_activity_type",  # activity type not in ACTIVITY_EVENT_TYPES
    "bad_value",  # a date or click count that is not a number (or clicks < 1)
    "unknown_assessment",  # id_assessment not in assessments.csv for this presentation
    "banked_assessment",  # result carried over from an earlier presentation: no activity now
    "after_cutoff",  # with a cutoff: the row's day is on or after it
    "duplicate_row",  # the same student and presentation on an earlier row; the first is kept
)

FAIRNESS_SLICES: tuple[str, ...] = ("gender", "age_band", "disability", "imd_band", "region")


@dataclass
class OuladMapping:
    """The adapter's output, in memory.

    Attributes:
        events: one row per landing event (``event_id``, ``learner_id``, ``course_id``, ``day`` =
            presentation day, ``event_type``, ``correct``, ``attempt``), ordered by day.
        learners: ``learners.csv`` rows (``LEARNER_COLUMNS``).
        outcomes: ``outcomes.csv`` rows (``OUTCOME_COLUMNS``).
        info: one row per mapped learner and presentation: ids, ``final_result``, ``dropped_out``,
            ``at_risk``, registration days, fairness slices (raw ids: landing-zone data only).
        clicks: mapped click rows (``learner_id``, ``course_id``, ``day``, ``activity_type``,
            ``sum_click``), for the hand-built baseline features.
        submissions: mapped assessment rows (``learner_id``, ``course_id``, ``day``, ``deadline``,
            ``assessment_type``, ``weight``, ``score``).
        report: per input table ``input_rows``, ``mapped``, ``unmapped`` (per reason), and event counts.
    """

    events: pd.DataFrame
    learners: pd.DataFrame
    outcomes: pd.DataFrame
    info: pd.DataFrame
    clicks: pd.DataFrame
    submissions: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)


def read_tables(src: str | Path) -> dict[str, pd.DataFrame]:
    """Read the OULAD tables from ``src`` (``*.csv.gz`` or ``*.csv``; the click file may be named ``studentVle*``).

    Raises:
        FileNotFoundError: a table is missing, naming the folder and the expected file names.
    """
    src = Path(src)
    names = ("studentInfo", "studentRegistration", "studentAssessment", "assessments", "courses", "vle")
    tables: dict[str, pd.DataFrame] = {}
    for name in (*names, "studentVle"):
        pattern = f"{name}*.csv*" if name == "studentVle" else f"{name}.csv*"
        found = sorted(src.glob(pattern))
        if not found:
            raise FileNotFoundError(
                f"OULAD table {name} not found in {src}; expected {name}.csv.gz (the click table may be "
                f"studentVle_*.csv.gz). Point --src / the oulad source at the folder holding all of {names}"
            )
        tables[name] = pd.read_csv(found[0], dtype=str, keep_default_na=False)
    return tables


def _course(frame: pd.DataFrame) -> pd.Series:
    return frame["code_module"].str.strip() + "-" + frame["code_presentation"].str.strip()


def _days(values: pd.Series) -> pd.Series:
    """OULAD day strings -> float days (NaN when empty or not a number)."""
    return pd.to_numeric(values.str.strip().replace("", None), errors="coerce")


def _account(report: dict[str, Any], table: str, total: int, reasons: pd.Series) -> None:
    """Record one table's reconciliation: reasons is None/NaN for mapped rows."""
    counted = reasons.value_counts()
    unknown = set(counted.index) - set(UNMAPPED_REASONS)
    if unknown:
        raise RuntimeError(f"OULAD adapter produced reasons outside UNMAPPED_REASONS: {sorted(unknown)}")
    unmapped = {r: int(counted.get(r, 0)) for r in UNMAPPED_REASONS}
    mapped = int(reasons.isna().sum())
    if mapped + sum(unmapped.values()) != total:
        raise RuntimeError(
            f"OULAD {table}: {total} input rows but {mapped} mapped + {sum(unmapped.values())} unmapped; "
            "this is a bug in the adapter, not in the data"
        )
    report[table] = {"input_rows": int(total), "mapped": mapped, "unmapped": unmapped}


def _first(conditions: list[tuple[pd.Series, str]], index: pd.Index) -> pd.Series:
    """The first reason whose condition holds, per row; None where none holds."""
    reason = pd.Series(None, index=index, dtype=object)
    for cond, name in conditions:
        reason = reason.where(reason.notna() | ~cond.fillna(False).astype(bool), name)
    return reason


def map_oulad(
    tables: dict[str, pd.DataFrame],
    *,
    presentations: tuple[str, ...] = DEFAULT_PRESENTATIONS,
    cutoff_day: int | None = None,
) -> OuladMapping:
    """Map OULAD tables to events, learner, outcome and info tables (vectorised; no per-row Python).

    Args:
        tables: from :func:`read_tables`.
        presentations: ``MODULE-PRESENTATION`` codes to map; rows of others are counted as
            ``other_presentation``.
        cutoff_day: when given, keep only what is known before presentation day ``cutoff_day``:
            learners who unregistered before it are left out (``unregistered_before_cutoff``), rows
            on or after it are counted as ``after_cutoff``. None keeps everything.

    Returns:
        :class:`OuladMapping`. Its report reconciles every input table.
    """
    report: dict[str, Any] = {"presentations": list(presentations), "cutoff_day": cutoff_day}
    selected = set(presentations)

    # Learners: studentInfo joined with studentRegistration (one row each per student and presentation).
    info = tables["studentInfo"].copy()
    info["course_id"] = _course(info)
    reg = tables["studentRegistration"].copy()
    reg["course_id"] = _course(reg)
    reg_dup = reg.duplicated(["id_student", "course_id"])
    info = info.merge(
        reg.loc[~reg_dup, ["id_student", "course_id", "date_registration", "date_unregistration"]],
        on=["id_student", "course_id"],
        how="left",
        validate="many_to_one",
    )
    info["date_registration"] = _days(info["date_registration"].fillna(""))
    info["date_unregistration"] = _days(info["date_unregistration"].fillna(""))
    in_scope = info["course_id"].isin(selected)
    conditions = [
        (~in_scope, "other_presentation"),
        (info["date_registration"].isna(), "missing_registration_date"),
        (info.duplicated(["id_student", "course_id"]), "duplicate_row"),
    ]
    if cutoff_day is not None:
        conditions.append((info["date_unregistration"] < cutoff_day, "unregistered_before_cutoff"))
    info_reason = _first(conditions, info.index)
    _account(report, "studentInfo", len(info), info_reason)
    # One reason per (student, presentation) for rows of other tables: that learner's own reason.
    own_reason = pd.DataFrame(
        {"id_student": info["id_student"], "course_id": info["course_id"], "r": info_reason}
    ).drop_duplicates(["id_student", "course_id"])
    # A registration row with no studentInfo row has no outcome: counted, not mapped.
    reg_known = (
        reg.merge(info.loc[info_reason.isna(), ["id_student", "course_id"]], how="left", indicator=True)[
            "_merge"
        ]
        .eq("both")
        .to_numpy()
    )
    reg_reason = _first(
        [
            (~reg["course_id"].isin(selected), "other_presentation"),
            (pd.Series(~reg_known, index=reg.index), "unknown_learner"),
        ],
        reg.index,
    )
    # Registrations of learners left out for a reason of their own are counted under that reason.
    own = reg[["id_student", "course_id"]].merge(own_reason, how="left")["r"].to_numpy()
    reg_reason = reg_reason.where(~(reg_reason.eq("unknown_learner") & pd.notna(own)), own)
    reg_reason = reg_reason.where(~(reg_dup & reg_reason.isna()), "duplicate_row")
    _account(report, "studentRegistration", len(reg), reg_reason)

    kept = info[info_reason.isna()].reset_index(drop=True)
    kept["learner_id"] = kept["id_student"].str.strip()
    mapped_keys = kept[["id_student", "course_id"]]

    def learner_reason(frame: pd.DataFrame) -> pd.Series:
        """Reason for rows keyed by (id_student, course_id): other presentation / the learner's own."""
        own = frame[["id_student", "course_id"]].merge(own_reason, how="left")["r"].to_numpy()
        missing = (
            ~frame[["id_student", "course_id"]]
            .merge(mapped_keys, how="left", indicator=True)["_merge"]
            .eq("both")
            .to_numpy()
        )
        reason = pd.Series(own, index=frame.index, dtype=object)
        reason = reason.where(~(reason.isna().to_numpy() & missing), "unknown_learner")
        return reason.where(frame["course_id"].isin(selected), "other_presentation")

    # Clicks.
    vle = tables["studentVle"].copy()
    vle["course_id"] = _course(vle)
    sites = tables["vle"].copy()
    sites["course_id"] = _course(sites)
    sites = sites.drop_duplicates("id_site")[["id_site", "course_id", "activity_type"]].rename(
        columns={"course_id": "site_course"}
    )
    vle = vle.merge(sites, on="id_site", how="left", validate="many_to_one")
    vle["day"] = _days(vle["date"])
    vle["clicks"] = _days(vle["sum_click"])
    vle_reason = learner_reason(vle)
    more = [
        (vle["site_course"].isna() | vle["site_course"].ne(vle["course_id"]), "unknown_site"),
        (
            ~vle["activity_type"].fillna("").str.strip().isin(list(ACTIVITY_EVENT_TYPES)),
            "unknown_activity_type",
        ),
        (vle["day"].isna() | vle["clicks"].isna() | ~(vle["clicks"] >= 1), "bad_value"),
    ]
    if cutoff_day is not None:
        more.append((vle["day"] >= cutoff_day, "after_cutoff"))
    vle_reason = vle_reason.where(vle_reason.notna(), _first(more, vle.index))
    _account(report, "studentVle", len(vle), vle_reason)
    clicks = vle.loc[vle_reason.isna()].copy()
    clicks["row"] = np.flatnonzero(vle_reason.isna().to_numpy())
    clicks = pd.DataFrame(
        {
            "learner_id": clicks["id_student"].str.strip().to_numpy(),
            "course_id": clicks["course_id"].to_numpy(),
            "day": clicks["day"].astype(np.int64).to_numpy(),
            "activity_type": clicks["activity_type"].str.strip().to_numpy(),
            "sum_click": clicks["clicks"].astype(np.int64).to_numpy(),
            "row": clicks["row"].to_numpy(),
        }
    )

    # Assessment submissions.
    sa = tables["studentAssessment"].copy()
    assessments = tables["assessments"].copy()
    assessments["course_id"] = _course(assessments)
    sa = sa.merge(
        assessments[["id_assessment", "course_id", "assessment_type", "date", "weight"]].drop_duplicates(
            "id_assessment"
        ),
        on="id_assessment",
        how="left",
        validate="many_to_one",
    )
    known_assessment = sa["course_id"].notna()
    sa["course_id"] = sa["course_id"].fillna("")
    sa["day"] = _days(sa["date_submitted"])
    sa_reason = _first([(~known_assessment, "unknown_assessment")], sa.index)
    sa_reason = sa_reason.where(sa_reason.notna(), learner_reason(sa))
    more = [
        (sa["is_banked"].str.strip().eq("1"), "banked_assessment"),
        (sa["day"].isna(), "bad_value"),
    ]
    if cutoff_day is not None:
        more.append((sa["day"] >= cutoff_day, "after_cutoff"))
    sa_reason = sa_reason.where(sa_reason.notna(), _first(more, sa.index))
    _account(report, "studentAssessment", len(sa), sa_reason)
    subs = sa.loc[sa_reason.isna()]
    submissions = pd.DataFrame(
        {
            "learner_id": subs["id_student"].str.strip().to_numpy(),
            "course_id": subs["course_id"].to_numpy(),
            "day": subs["day"].astype(np.int64).to_numpy(),
            "deadline": _days(subs["date"].fillna("")).to_numpy(),
            "assessment_type": subs["assessment_type"].to_numpy(),
            "weight": _days(subs["weight"].fillna("")).to_numpy(),
            "score": _days(subs["score"]).to_numpy(),
            "row": np.flatnonzero(sa_reason.isna().to_numpy()),
        }
    )

    events = _events(kept, clicks, submissions, cutoff_day)
    report["events"] = {
        "clicks": int(clicks["sum_click"].sum()),
        "assessment_submissions": len(submissions),
        "unregistrations": int((events["event_type"] == "subscription_cancel").sum()),
        "total": len(events),
        "by_event_type": {k: int(v) for k, v in events["event_type"].value_counts().sort_index().items()},
    }
    if report["events"]["total"] != (
        report["events"]["clicks"]
        + report["events"]["assessment_submissions"]
        + report["events"]["unregistrations"]
    ):
        raise RuntimeError("OULAD adapter: event total differs from clicks + submissions + unregistrations")

    final = kept["final_result"].str.strip()
    kept["dropped_out"] = (final == "Withdrawn").astype(np.int64)
    kept["at_risk"] = final.isin(["Withdrawn", "Fail"]).astype(np.int64)
    report["learners"] = {
        "mapped": len(kept),
        "by_final_result": {k: int(v) for k, v in final.value_counts().sort_index().items()},
    }
    info_out = pd.DataFrame(
        {
            "learner_id": kept["learner_id"],
            "course_id": kept["course_id"],
            "code_module": kept["code_module"].str.strip(),
            "code_presentation": kept["code_presentation"].str.strip(),
            "final_result": final,
            "dropped_out": kept["dropped_out"],
            "at_risk": kept["at_risk"],
            "date_registration": kept["date_registration"].astype(np.int64),
            "date_unregistration": kept["date_unregistration"],
            **{s: kept[s].str.strip().replace("", "unknown") for s in FAIRNESS_SLICES},
        }
    )
    return OuladMapping(
        events=events,
        learners=_learner_table(kept),
        outcomes=pd.DataFrame(
            {
                "learner_id": kept["learner_id"],
                "course_id": kept["course_id"],
                "dropped_out": kept["dropped_out"],
                "churned": "",
                "final_score": "",
            }
        )[list(OUTCOME_COLUMNS)],
        info=info_out,
        clicks=clicks.drop(columns="row"),
        submissions=submissions.drop(columns="row"),
        report=report,
    )


def _events(
    learners: pd.DataFrame, clicks: pd.DataFrame, submissions: pd.DataFrame, cutoff_day: int | None
) -> pd.DataFrame:
    """Landing events: one per click, one per submission, one per unregistration; ordered by day."""
    reps = clicks["sum_click"].to_numpy()
    idx = np.repeat(np.arange(len(clicks)), reps)
    # k-th click of its row, 0-based: event ids stay unique and stable across runs.
    k = np.arange(len(idx)) - np.repeat(np.cumsum(reps) - reps, reps)
    click_events = pd.DataFrame(
        {
            "event_id": (
                "v" + pd.Series(clicks["row"].to_numpy()[idx]).astype(str) + "-" + pd.Series(k).astype(str)
            ).to_numpy(),
            "learner_id": clicks["learner_id"].to_numpy()[idx],
            "course_id": clicks["course_id"].to_numpy()[idx],
            "day": clicks["day"].to_numpy()[idx],
            "event_type": clicks["activity_type"].map(ACTIVITY_EVENT_TYPES).to_numpy()[idx],
            "correct": "",
            "attempt": "",
        }
    )
    score = submissions["score"].to_numpy()
    sub_events = pd.DataFrame(
        {
            "event_id": "a" + submissions["row"].astype(str).to_numpy(),
            "learner_id": submissions["learner_id"].to_numpy(),
            "course_id": submissions["course_id"].to_numpy(),
            "day": submissions["day"].to_numpy(),
            "event_type": "quiz_submit",
            "correct": np.where(np.isnan(score), "", np.where(score >= PASS_MARK, "true", "false")),
            "attempt": "1",
        }
    )
    gone = learners[learners["date_unregistration"].notna()]
    if cutoff_day is not None:
        gone = gone[gone["date_unregistration"] < cutoff_day]  # empty: those learners were left out
    unreg = pd.DataFrame(
        {
            "event_id": "u" + gone["learner_id"].index.astype(str),
            "learner_id": gone["learner_id"].to_numpy(),
            "course_id": gone["course_id"].to_numpy(),
            "day": gone["date_unregistration"].astype(np.int64).to_numpy(),
            "event_type": "subscription_cancel",
            "correct": "",
            "attempt": "",
        }
    )
    # Event ids carry the course so that ids from different course runs never collide.
    events = pd.concat([click_events, sub_events, unreg], ignore_index=True)
    events["event_id"] = events["course_id"] + "-" + events["event_id"]
    return events.sort_values("day", kind="stable").reset_index(drop=True)


def _learner_table(kept: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "learner_id": kept["learner_id"],
            "email": "",
            "course_id": kept["course_id"],
            "cohort": kept["code_presentation"].str.strip(),
            "region": "",  # OULAD region is a fairness slice, not a model input
            "device": "",
            "plan": "",
            "price": "",
            "age_band": kept["age_band"].str.strip(),
            "gender": kept["gender"].str.strip(),
            "enrolled_on": "",  # filled by write_landing (depends on day0)
        }
    )
    frame["date_registration"] = kept["date_registration"].astype(np.int64).to_numpy()
    return frame


def calendar_day(day0: dt.date, day: np.ndarray) -> np.ndarray:
    """Presentation days -> ``datetime64[D]`` landing days."""
    return np.datetime64(day0.isoformat(), "D") + np.asarray(day, dtype=np.int64).astype("timedelta64[D]")


def write_landing(mapping: OuladMapping, out: str | Path, day0: dt.date = DEFAULT_DAY0) -> dict[str, Any]:
    """Write ``landing/<YYYY-MM-DD>/oulad.csv``, ``learners.csv``, ``outcomes.csv``,
    ``oulad_learners.csv`` and ``oulad_report.json`` under ``out`` (the data root).

    A landing day directory is written only for days with events. Returns the report (with the
    landing day range and ``day0`` added).
    """
    out = Path(out)
    landing = out / LANDING_DIR
    landing.mkdir(parents=True, exist_ok=True)
    ev = mapping.events
    dates = calendar_day(day0, ev["day"].to_numpy())
    ts_day = pd.Series(dates.astype(str))
    frame = pd.DataFrame(
        {
            "event_id": ev["event_id"].to_numpy(),
            "learner_id": ev["learner_id"].to_numpy(),
            "course_id": ev["course_id"].to_numpy(),
            "ts": (ts_day + "T" + EVENT_HOUR).to_numpy(),
            "event_type": ev["event_type"].to_numpy(),
            "correct": ev["correct"].to_numpy(),
            "attempt": ev["attempt"].to_numpy(),
        }
    )
    days = ev["day"].to_numpy()
    bounds = np.flatnonzero(np.diff(days)) + 1
    starts = np.concatenate([[0], bounds]) if len(days) else np.array([], dtype=np.int64)
    ends = np.concatenate([bounds, [len(days)]]) if len(days) else np.array([], dtype=np.int64)
    for s, e in zip(starts, ends, strict=True):
        day_dir = landing / str(dates[s])
        day_dir.mkdir(exist_ok=True)
        frame.iloc[s:e].to_csv(day_dir / LANDING_FILE, index=False)
    learners = mapping.learners.copy()
    learners["enrolled_on"] = calendar_day(day0, learners.pop("date_registration").to_numpy()).astype(str)
    learners[list(LEARNER_COLUMNS)].to_csv(out / LEARNERS_FILE, index=False)
    mapping.outcomes.to_csv(out / OUTCOMES_FILE, index=False)
    mapping.info.to_csv(out / OULAD_LEARNERS_FILE, index=False)
    report = dict(mapping.report)
    report.update(
        {
            "day0": day0.isoformat(),
            "first_landing_day": str(dates.min()) if len(dates) else None,
            "last_landing_day": str(dates.max()) if len(dates) else None,
            "landing_days": len(starts),
        }
    )
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def convert(
    src: str | Path,
    out: str | Path,
    *,
    day0: dt.date = DEFAULT_DAY0,
    presentations: tuple[str, ...] = DEFAULT_PRESENTATIONS,
    cutoff_day: int | None = None,
) -> tuple[OuladMapping, dict[str, Any]]:
    """Read OULAD from ``src``, map it and write the data root ``out``; returns the mapping and report."""
    mapping = map_oulad(read_tables(src), presentations=presentations, cutoff_day=cutoff_day)
    return mapping, write_landing(mapping, out, day0)


def format_report(report: dict[str, Any]) -> str:
    """A short human-readable reconciliation summary."""
    lines = []
    for table in ("studentInfo", "studentRegistration", "studentVle", "studentAssessment"):
        r = report[table]
        why = ", ".join(f"{k} {v}" for k, v in r["unmapped"].items() if v) or "none"
        lines.append(f"{table:20s} input {r['input_rows']:>9,}  mapped {r['mapped']:>9,}  unmapped: {why}")
    e = report["events"]
    lines.append(
        f"events {e['total']:,} = clicks {e['clicks']:,} + submissions {e['assessment_submissions']:,} "
        f"+ unregistrations {e['unregistrations']:,}; learners {report['learners']['mapped']:,}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Map OULAD into the landing format (see module docstring).")
    parser.add_argument("--src", default=DEFAULT_SOURCE, help="folder with the OULAD gzip CSV tables")
    parser.add_argument("--out", required=True, help="data root to write (landing/, learners.csv, ...)")
    parser.add_argument("--day0", default=DEFAULT_DAY0.isoformat(), help="landing day of presentation day 0")
    parser.add_argument("--presentations", default=",".join(DEFAULT_PRESENTATIONS))
    parser.add_argument(
        "--cutoff-weeks",
        type=int,
        default=None,
        help="keep only the first N weeks; leave out learners who unregistered before them",
    )
    args = parser.parse_args(argv)
    cutoff = None if args.cutoff_weeks is None else 7 * args.cutoff_weeks
    _, report = convert(
        args.src,
        args.out,
        day0=dt.date.fromisoformat(args.day0),
        presentations=tuple(p.strip() for p in args.presentations.split(",") if p.strip()),
        cutoff_day=cutoff,
    )
    print(format_report(report))
    print(f"wrote {args.out} (landing {report['first_landing_day']} .. {report['last_landing_day']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
