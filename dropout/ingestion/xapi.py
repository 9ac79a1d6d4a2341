"""xAPI statements from a Learning Record Store into landing days, with every statement accounted for.

The source pulls ``GET <lrs>/xAPI/statements?since=&until=`` (the xAPI spec's *stored* time; Ralph applies
the window to the statements' timestamps: either way a window lands the same files), follows the
``more`` links, maps each statement onto the landing format of ``dropout.contract.events`` and writes
it under ``<landing>/<day of its timestamp>/xapi-<pull>.jsonl``; the rest of ingestion (validation,
quarantine, pseudonymisation, daily aggregation) runs unchanged on those days. Every pulled statement
is written, already landed (the same statement id under that day already: re-pulling a window
duplicates nothing) or quarantined with exactly one reason from ``XAPI_QUARANTINE_REASONS``, so
``pulled == written + already_landed + sum(quarantined)``. The quarantine file holds statement ids
and reasons only, never an actor.

Mapping (``VERB_EVENTS``; verbs from the ADL, xAPI video profile and TinCan registries, as Open edX,
Moodle and H5P emit them): the learner is ``actor.account.name`` (the platform's learner id, as in the
learner table); the course is the context activity of type ``.../activities/course`` (else the first
parent), its last path segment; ``result.success`` becomes ``correct``; ``result.duration`` (ISO 8601)
becomes ``duration_s``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dropout.contract.events import EVENT_TYPES

XAPI_VERSION = "1.0.3"
ADL = "http://adlnet.gov/expapi/verbs/"
VIDEO = "https://w3id.org/xapi/video/verbs/"
TINCAN = "http://id.tincanapi.com/verb/"
ADL_PROFILE = "https://w3id.org/xapi/adl/verbs/"
ACROSSX = "https://w3id.org/xapi/acrossx/verbs/"
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
VIDEO_TYPE = "https://w3id.org/xapi/video/activity-type/video"

# verb id -> landing event type. "completed" is a video_complete only for a video object (below).
VERB_EVENTS: dict[str, str] = {
    ADL_PROFILE + "logged-in": "login",
    ADL + "initialized": "login",
    VIDEO + "played": "video_play",
    VIDEO + "completed": "video_complete",
    ADL + "answered": "quiz_submit",
    ADL + "attempted": "quiz_submit",
    ACROSSX + "posted": "forum_post",
    TINCAN + "posted": "forum_post",
    ADL + "commented": "forum_reply",
    TINCAN + "replied": "forum_reply",
    TINCAN + "liked": "forum_like",
    TINCAN + "downloaded": "resource_download",
    TINCAN + "viewed": "page_view",
    ACROSSX + "navigated": "page_view",
    ADL + "experienced": "explanation_view",
}
VOIDED_VERB = ADL + "voided"

# Why a pulled statement did not reach the landing days (one reason each).
XAPI_QUARANTINE_REASONS: tuple[str, ...] = (
    "invalid_statement",  # not a JSON object, or no statement id
    "voiding_statement",  # a "voided" statement: it retracts another, it is not activity
    "voided",  # a statement retracted by a voiding statement in the same pull
    "missing_actor",  # no actor.account.name (the platform's learner id)
    "missing_course",  # no course among the context activities
    "unknown_verb",  # a verb VERB_EVENTS does not map
    "bad_timestamp",  # timestamp missing or not ISO 8601 with a time zone
    "duplicate_statement",  # the same statement id twice in one pull (the first is kept)
)

_DURATION = re.compile(
    r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


@dataclass
class PullResult:
    """What one pull did: counts that reconcile, and where it wrote."""

    pulled: int = 0
    written: int = 0
    already_landed: int = 0
    quarantined: Counter = field(default_factory=Counter)
    days: set[str] = field(default_factory=set)
    pages: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "pulled": self.pulled,
            "written": self.written,
            "already_landed": self.already_landed,
            "quarantined": dict(sorted(self.quarantined.items())),
            "days": sorted(self.days),
            "pages": self.pages,
        }


def duration_seconds(text: str) -> float | None:
    """ISO 8601 duration (``PT1M30.5S``) in seconds; None when it is not one."""
    m = _DURATION.match(text or "")
    if not m or text in ("P", "PT"):
        return None
    d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


def _course(statement: dict[str, Any]) -> str | None:
    activities = (statement.get("context") or {}).get("contextActivities") or {}
    candidates = [
        a for kind in ("parent", "grouping") for a in activities.get(kind) or [] if isinstance(a, dict)
    ]
    typed = [a for a in candidates if (a.get("definition") or {}).get("type") == COURSE_TYPE]
    chosen = (typed or candidates)[0] if candidates else None
    if not chosen or not chosen.get("id"):
        return None
    return str(chosen["id"]).rstrip("/").rsplit("/", 1)[-1] or None


def to_event(statement: Any) -> tuple[dict[str, Any] | None, str | None]:
    """One statement -> ``(landing event, None)`` or ``(None, quarantine reason)``."""
    if not isinstance(statement, dict) or not statement.get("id"):
        return None, "invalid_statement"
    verb = str((statement.get("verb") or {}).get("id") or "")
    if verb == VOIDED_VERB:
        return None, "voiding_statement"
    learner = ((statement.get("actor") or {}).get("account") or {}).get("name")
    if not learner:
        return None, "missing_actor"
    course = _course(statement)
    if not course:
        return None, "missing_course"
    obj = statement.get("object") or {}
    event_type = VERB_EVENTS.get(verb)
    if verb == ADL + "completed" and (obj.get("definition") or {}).get("type") == VIDEO_TYPE:
        event_type = "video_complete"
    if event_type not in EVENT_TYPES:
        return None, "unknown_verb"
    ts = statement.get("timestamp")
    try:
        when = dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return None, "bad_timestamp"
    if when.tzinfo is None:
        return None, "bad_timestamp"
    event: dict[str, Any] = {
        "event_id": str(statement["id"]),
        "learner_id": str(learner),
        "course_id": course,
        "ts": when.isoformat(),
        "event_type": event_type,
    }
    result = statement.get("result") or {}
    if isinstance(result.get("success"), bool):
        event["correct"] = result["success"]
    seconds = duration_seconds(str(result.get("duration") or ""))
    if seconds is not None:
        event["duration_s"] = seconds
    return event, None


def land(
    statements: Iterable[Any], landing_root: str | Path, pull_id: str, result: PullResult | None = None
) -> PullResult:
    """Map ``statements`` and write them into landing days; quarantine the rest (see the module docstring)."""
    result = result or PullResult()
    root = Path(landing_root)
    batch = list(statements)
    voided = {
        str((s.get("object") or {}).get("id"))
        for s in batch
        if isinstance(s, dict) and (s.get("verb") or {}).get("id") == VOIDED_VERB
    }
    seen: set[str] = set()
    by_day: dict[str, list[dict[str, Any]]] = {}
    quarantine: list[dict[str, str]] = []
    for statement in batch:
        result.pulled += 1
        sid = str(statement.get("id")) if isinstance(statement, dict) and statement.get("id") else ""
        event, reason = to_event(statement)
        if reason is None and sid in voided:
            event, reason = None, "voided"
        if reason is None and sid in seen:
            event, reason = None, "duplicate_statement"
        if reason is not None:
            result.quarantined[reason] += 1
            quarantine.append({"statement_id": sid, "reason": reason})
            continue
        seen.add(sid)
        assert event is not None
        day = dt.datetime.fromisoformat(event["ts"]).astimezone(dt.UTC).date().isoformat()
        by_day.setdefault(day, []).append(event)
    for day, events in sorted(by_day.items()):
        folder = root / day
        folder.mkdir(parents=True, exist_ok=True)
        landed = _landed_ids(folder, skip=f"xapi-{pull_id}.jsonl")
        fresh = [e for e in events if e["event_id"] not in landed]
        result.already_landed += len(events) - len(fresh)
        if fresh:
            path = folder / f"xapi-{pull_id}.jsonl"
            with path.open("w") as fh:
                for e in fresh:
                    fh.write(json.dumps(e, sort_keys=True) + "\n")
            result.days.add(day)
        result.written += len(fresh)
    if quarantine:
        qdir = root.parent / "source-quarantine"
        qdir.mkdir(parents=True, exist_ok=True)
        (qdir / f"xapi-{pull_id}.jsonl").write_text("".join(json.dumps(q) + "\n" for q in quarantine))
    if result.pulled != result.written + result.already_landed + sum(result.quarantined.values()):
        raise RuntimeError(
            f"xAPI pull {pull_id}: counts do not reconcile ({result.as_dict()}); a bug, not the data"
        )
    return result


def _landed_ids(folder: Path, skip: str) -> set[str]:
    """Statement ids already landed under one day by earlier pulls (a re-pull of ``skip`` rewrites it)."""
    ids: set[str] = set()
    for path in folder.glob("xapi-*.jsonl"):
        if path.name == skip:
            continue
        for line in path.read_text().splitlines():
            if line.strip():
                ids.add(json.loads(line)["event_id"])
    return ids


class LrsError(RuntimeError):
    """The LRS refused or failed a request (the message names the status, never the credentials)."""


def pages(
    base_url: str, username: str, password: str, since: dt.datetime, until: dt.datetime, limit: int = 500
) -> Iterator[list[Any]]:
    """The statements the LRS stored in ``[since, until)``, one list per page, through ``more`` links."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "X-Experience-API-Version": XAPI_VERSION}
    query = urllib.parse.urlencode(
        {"since": since.isoformat(), "until": until.isoformat(), "limit": limit, "ascending": "true"}
    )
    url: str | None = f"{base_url.rstrip('/')}/xAPI/statements?{query}"
    while url:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (the configured LRS)
                page = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise LrsError(
                f"LRS {base_url}: GET statements answered {exc.code} {exc.reason}"
                + (
                    "; check the LRS credentials ([source] user / password env)"
                    if exc.code in (401, 403)
                    else ""
                )
            ) from None
        except (urllib.error.URLError, TimeoutError) as exc:
            raise LrsError(f"LRS {base_url} unreachable: {exc}") from None
        yield list(page.get("statements") or [])
        more = page.get("more") or ""
        url = urllib.parse.urljoin(base_url, more) if more else None


def pull(
    base_url: str,
    username: str,
    password: str,
    landing_root: str | Path,
    since: dt.datetime,
    until: dt.datetime,
    limit: int = 500,
) -> PullResult:
    """Pull one stored-time window from the LRS into landing days; the same window always lands the same."""
    pull_id = hashlib.sha256(f"{since.isoformat()}|{until.isoformat()}".encode()).hexdigest()[:12]
    result = PullResult()
    pulled: list[Any] = []
    for page in pages(base_url, username, password, since, until, limit):
        result.pages += 1
        pulled.extend(page)
    return land(pulled, landing_root, pull_id, result)
