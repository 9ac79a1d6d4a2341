"""Interventions for flagged learners: e-mail (SMTP) to the learner or the course staff, and a webhook.

Actions are configured per band (``warning.high_actions`` for risk >= threshold, ``warning.top_actions``
for learners flagged only by being in the top fraction) and for flagged learners already silent
(``warning.silent_actions``, whatever their band), as comma-separated names from ``ACTIONS``.
The learner's address is looked up in the learner table (the system of record) at send time and
held in memory only: the risk list and the intervention records carry the pseudonym, never the
address. Each action returns ``(status, detail)`` and never raises for a delivery problem, so one
unreachable server does not stop the run; the failure is recorded.
"""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pandas as pd

from dropout.feedback.store import FAILED, SENT, SKIPPED
from dropout.ingestion.pseudonymise import pseudonymise

ACTIONS = ("email_learner", "email_staff", "webhook")


def parse_actions(text: str, where: str) -> tuple[str, ...]:
    names = tuple(a.strip() for a in text.split(",") if a.strip())
    unknown = [a for a in names if a not in ACTIONS]
    if unknown:
        raise ValueError(f"{where}: unknown actions {unknown}; choose from {', '.join(ACTIONS)}")
    return names


def learner_addresses(learners_csv: str | Path, key: bytes) -> dict[str, str]:
    """pseudonym -> e-mail address, from the learner table; kept in memory, never written."""
    table = pd.read_csv(learners_csv, dtype=str, usecols=["learner_id", "email"]).dropna()
    return dict(zip(pseudonymise(table["learner_id"], key), table["email"], strict=True))


@dataclass(frozen=True)
class Flagged:
    learner: str
    course_id: str
    risk: float
    rank: int
    band: str
    reason: str
    activity_state: str = ""  # "active" or "silent" (lead_time.silent); "" in risk lists of older stores


@dataclass(frozen=True)
class Channels:
    smtp_host: str
    smtp_port: int
    sender: str
    staff_email: str
    webhook_url: str
    timeout_s: float = 10.0


def _send_mail(channels: Channels, to: str, subject: str, body: str) -> tuple[str, str]:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = channels.sender, to, subject
    message.set_content(body)
    try:
        with smtplib.SMTP(channels.smtp_host, channels.smtp_port, timeout=channels.timeout_s) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        return FAILED, f"SMTP {channels.smtp_host}:{channels.smtp_port}: {type(exc).__name__}: {exc}"
    return SENT, f"e-mail via {channels.smtp_host}:{channels.smtp_port}"


def email_learner(flagged: Flagged, channels: Channels, addresses: Mapping[str, str]) -> tuple[str, str]:
    to = addresses.get(flagged.learner)
    if not to:
        return SKIPPED, "no e-mail address for this learner in the learner table"
    body = (
        f"Hello,\n\nwe noticed you have been less active in course {flagged.course_id} lately. "
        "Your course team is happy to help you get back on track: reply to this message or open the "
        "course to pick up where you left off.\n"
    )
    return _send_mail(channels, to, f"Need a hand with {flagged.course_id}?", body)


def email_staff(flagged: Flagged, channels: Channels, addresses: Mapping[str, str]) -> tuple[str, str]:
    if not channels.staff_email:
        return SKIPPED, "warning.staff_email is not set"
    body = (
        f"Learner {flagged.learner} in {flagged.course_id} is at risk of dropping out "
        f"(risk {flagged.risk:.2f}, rank {flagged.rank}, band {flagged.band}).\nWhy: {flagged.reason}.\n"
    )
    return _send_mail(
        channels, channels.staff_email, f"[early warning] {flagged.course_id}: learner at risk", body
    )


def webhook(flagged: Flagged, channels: Channels, addresses: Mapping[str, str]) -> tuple[str, str]:
    if not channels.webhook_url:
        return SKIPPED, "warning.webhook_url is not set"
    payload = {
        "learner": flagged.learner,
        "course_id": flagged.course_id,
        "risk": round(flagged.risk, 4),
        "rank": flagged.rank,
        "band": flagged.band,
        "reason": flagged.reason,
    }
    request = urllib.request.Request(
        channels.webhook_url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=channels.timeout_s) as reply:
            return SENT, f"webhook answered {reply.status}"
    except (urllib.error.URLError, OSError) as exc:
        return FAILED, f"webhook {channels.webhook_url}: {exc}"


HANDLERS = {"email_learner": email_learner, "email_staff": email_staff, "webhook": webhook}
