"""Synthetic learners for ``lab.generator``: who they are, how they behave each day, how they end.

Each learner has an archetype (steady, cramming, lurking, fading) and latent traits (engagement,
video completion, quiz accuracy, forum appetite, dwell time). Dropout is a noisy score of those
traits cut at the requested rate, so it shows in the first days' behaviour; dropouts also go quiet
one to three weeks after they start. Everything here is numpy arrays over learners or events, one
call per day; the landing format lives in ``generator_landing``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dropout.contract.events import EVENT_TYPES, LEARNER_COLUMNS, OUTCOME_COLUMNS

if TYPE_CHECKING:
    from lab.generator.config import GeneratorConfig

ARCHETYPES: tuple[str, ...] = ("steady", "cramming", "lurking", "fading")
COURSES: tuple[str, ...] = ("C-PY101", "C-DS201", "C-ML301", "C-WEB110", "C-SQL120")
COURSE_MONTHLY_PRICE: tuple[float, ...] = (19.0, 29.0, 39.0, 19.0, 24.0)  # annual = 10 months
REGIONS: tuple[str, ...] = ("EU", "NA", "APAC", "LATAM", "AF")
DEVICES: tuple[str, ...] = ("web", "ios", "android")
PLANS: tuple[str, ...] = ("free", "monthly", "annual")
AGE_BANDS: tuple[str, ...] = ("<25", "25-34", "35-54", "55+", "")  # "" = not collected
GENDERS: tuple[str, ...] = ("f", "m", "x", "")
APP_VERSIONS: tuple[str, ...] = ("2.4.1", "2.5.0", "2.6.2")
NEW_APP_VERSION = "3.0"
DURATION_TYPES: tuple[str, ...] = ("login", "video_play", "page_view", "explanation_view")

TYPE_CODE = {name: i for i, name in enumerate(EVENT_TYPES)}
DAY_S = 86_400
_NEVER = 10**6  # a day index beyond any run
_FIRST_NAMES = ("ana", "ben", "chen", "dara", "eli", "fatima", "goran", "hana", "ivan", "jo")


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """An independent random stream per (seed, purpose, day), so days do not depend on each other."""
    return np.random.default_rng([seed, *stream])


@dataclass
class Population:
    """Per-learner arrays of length N; events refer to learners by index into them."""

    ids: np.ndarray  # "LRN" + 8 digits
    emails: np.ndarray
    ips: np.ndarray
    device_ids: np.ndarray
    courses: np.ndarray  # course_id strings
    enrol_day: np.ndarray  # relative to first_day; negative = enrolled before the run
    archetype: np.ndarray  # index into ARCHETYPES
    p_active: np.ndarray  # chance of any activity on an ordinary enrolled day
    intensity: np.ndarray  # multiplies event counts on an active day
    completion: np.ndarray  # chance a video_play is followed by video_complete
    accuracy: np.ndarray  # chance a quiz_submit is correct
    forum: np.ndarray
    dwell_log_s: np.ndarray  # log of the learner's typical page dwell in seconds
    pref_hour: np.ndarray  # UTC hour around which sessions start
    fade_tau: np.ndarray  # days; fading learners' activity decays as exp(-days enrolled / tau)
    cram_phase: np.ndarray
    drop_day: np.ndarray  # after this day a dropout is (almost) quiet; _NEVER for others
    app_version: np.ndarray  # index into APP_VERSIONS before an app change
    plan: np.ndarray  # index into PLANS
    price: np.ndarray
    cancel_day: np.ndarray  # day of a subscription_cancel event; -1 when none in the run
    learners: pd.DataFrame  # learners.csv
    outcomes: pd.DataFrame  # outcomes.csv
    drift: dict[str, Any]  # what the drift switches changed, for the manifest


def make_population(cfg: GeneratorConfig, first: dt.date) -> Population:
    """Draw learners, their traits and their outcomes for ``cfg`` (deterministic in ``cfg.seed``)."""
    n = cfg.learners
    rng = rng_for(cfg.seed, 0)
    ids = np.array([f"LRN{x:08d}" for x in rng.choice(100_000_000, size=n, replace=False)])
    course = rng.integers(0, len(COURSES), n)
    # Most learners enrolled in the month before the run; a quarter enrol while it runs.
    during = rng.random(n) < 0.25
    enrol_day = np.where(during, rng.integers(1, max(cfg.days, 2), n), -rng.integers(0, 31, n))
    archetype = rng.choice(len(ARCHETYPES), n, p=[0.35, 0.2, 0.2, 0.25])
    engagement = rng.normal(0.0, 1.0, n)

    def by_type(*values: float) -> np.ndarray:  # one value per archetype, spread over learners
        return np.array(values)[archetype]

    p_active = np.clip(
        rng.uniform(by_type(0.55, 0.10, 0.30, 0.50), by_type(0.85, 0.25, 0.55, 0.80))
        * np.exp(0.3 * engagement),
        0.02,
        0.95,
    )
    intensity = rng.lognormal(0.0, 0.3, n) * np.exp(0.3 * engagement)
    completion = rng.beta(by_type(8.0, 5.0, 3.0, 4.0), by_type(2.0, 3.0, 5.0, 4.0))
    accuracy = rng.beta(by_type(7.0, 5.0, 4.0, 4.0), by_type(3.0, 4.0, 4.0, 5.0))
    forum = by_type(1.0, 0.5, 0.1, 0.6) * rng.lognormal(0.0, 0.4, n)
    dwell_log_s = rng.normal(np.log(90.0), 0.35, n)

    # Dropout: a noisy score of traits that show in behaviour, cut at the requested rate.
    risk = (
        by_type(-1.0, 0.0, 0.9, 1.3)
        - 0.9 * engagement
        - 3.0 * (completion - 0.6)
        - 2.5 * (accuracy - 0.55)
        + rng.normal(0.0, 0.6, n)
    )
    dropped = risk > np.quantile(risk, 1.0 - cfg.dropout_rate)
    start = np.maximum(enrol_day, 0)
    drop_day = np.where(dropped, start + 6 + rng.geometric(1 / 8, n), _NEVER)
    final_score = np.clip(np.round(35 + 40 * accuracy + 20 * completion + rng.normal(0, 7, n)), 0, 100)

    cohort = np.array([f"{first + dt.timedelta(days=int(d)):%Y-%m}" for d in enrol_day], dtype=object)
    device = rng.choice(len(DEVICES), n, p=[0.5, 0.25, 0.25])
    drift: dict[str, Any] = {"cohort_from_day": None, "app_version_change_day": None}
    if cfg.drift_cohort_from_day is not None:
        # A later cohort that completes far fewer videos, mostly on android, with shorter dwell. Their
        # dropout was drawn from the unchanged traits above, so the behaviour-to-label link shifts.
        k = cfg.drift_cohort_from_day
        new = enrol_day >= k
        name = f"{first + dt.timedelta(days=k):%Y-%m}-new"
        cohort[new] = name
        device[new] = rng.choice(len(DEVICES), int(new.sum()), p=[0.1, 0.1, 0.8])
        completion[new] *= 0.3
        dwell_log_s[new] -= np.log(2.5)
        drift.update(
            cohort_from_day=k,
            cohort_from_date=f"{first + dt.timedelta(days=k)}",
            cohort=name,
            cohort_learners=int(new.sum()),
            cohort_changes="video completion x0.3, 80% android, dwell / 2.5",
        )
    if cfg.app_version_change_day is not None:
        k = cfg.app_version_change_day
        drift.update(
            app_version_change_day=k,
            app_version_change_date=f"{first + dt.timedelta(days=k)}",
            app_version=NEW_APP_VERSION,
            app_version_changes="duration_s halved, logins doubled",
        )

    plan = rng.choice(len(PLANS), n, p=[0.0, 0.6, 0.4] if cfg.paid else [0.7, 0.2, 0.1])
    monthly = np.array(COURSE_MONTHLY_PRICE)[course]
    price = np.select([plan == 1, plan == 2], [monthly, monthly * 10], 0.0)
    churned = np.full(n, -1)
    cancel_day = np.full(n, -1)
    if cfg.paid:
        churned = np.where(dropped, rng.random(n) < 0.65, rng.random(n) < 0.1).astype(int)
        # Churners usually cancel during the run; a few others cancel and later resubscribe.
        cancels = np.where(churned == 1, rng.random(n) < 0.85, rng.random(n) < 0.03)
        when = start + 3 + (rng.random(n) * np.maximum(cfg.days - start - 3, 1)).astype(int)
        cancel_day = np.where(cancels & (when < cfg.days), when, -1)

    emails = np.array(
        [
            f"{_FIRST_NAMES[a]}.{b:06x}@learners.example"
            for a, b in zip(rng.integers(0, len(_FIRST_NAMES), n), rng.integers(0, 16**6, n), strict=True)
        ]
    )
    ip_prefix = np.array(["198.51.100", "203.0.113"])[rng.integers(0, 2, n)]
    ips = np.array([f"{p}.{h}" for p, h in zip(ip_prefix, rng.integers(1, 255, n), strict=True)])
    device_ids = np.array([f"dev-{x:012x}" for x in rng.integers(0, 2**48, n, dtype=np.int64)])
    courses = np.array(COURSES)[course]

    learners = pd.DataFrame(
        {
            "learner_id": ids,
            "email": emails,
            "course_id": courses,
            "cohort": cohort,
            "region": np.array(REGIONS)[rng.choice(len(REGIONS), n, p=[0.3, 0.25, 0.25, 0.12, 0.08])],
            "device": np.array(DEVICES)[device],
            "plan": np.array(PLANS)[plan],
            "price": price,
            "age_band": np.array(AGE_BANDS)[rng.choice(len(AGE_BANDS), n, p=[0.25, 0.35, 0.25, 0.1, 0.05])],
            "gender": np.array(GENDERS)[rng.choice(len(GENDERS), n, p=[0.46, 0.46, 0.03, 0.05])],
            "enrolled_on": [f"{first + dt.timedelta(days=int(d))}" for d in enrol_day],
        },
        columns=list(LEARNER_COLUMNS),
    )
    outcomes = pd.DataFrame(
        {
            "learner_id": ids,
            "course_id": courses,
            "dropped_out": dropped.astype(int),
            "churned": pd.Series(churned).where(churned >= 0).astype("Int64"),  # empty when not paid
            "final_score": pd.Series(final_score).where(~dropped).astype("Int64"),  # empty for dropouts
        },
        columns=list(OUTCOME_COLUMNS),
    )
    return Population(
        ids=ids,
        emails=emails,
        ips=ips,
        device_ids=device_ids,
        courses=courses,
        enrol_day=enrol_day,
        archetype=archetype,
        p_active=p_active,
        intensity=intensity,
        completion=completion,
        accuracy=accuracy,
        forum=forum,
        dwell_log_s=dwell_log_s,
        pref_hour=rng.normal(19.0, 3.0, n),
        fade_tau=rng.uniform(5.0, 14.0, n),
        cram_phase=rng.integers(0, 7, n),
        drop_day=drop_day,
        app_version=rng.integers(0, len(APP_VERSIONS), n),
        plan=plan,
        price=price,
        cancel_day=cancel_day,
        learners=learners,
        outcomes=outcomes,
        drift=drift,
    )


@dataclass
class DayEvents:
    """One day's valid events as parallel arrays (one entry per event)."""

    learner: np.ndarray  # index into the population
    etype: np.ndarray  # index into EVENT_TYPES
    ts: np.ndarray  # UTC epoch seconds
    duration: np.ndarray  # seconds, -1 when the event carries none
    correct: np.ndarray  # 1 / 0, -1 when none
    attempt: np.ndarray  # 1-based, 0 when none
    amount: np.ndarray  # NaN when none

    def take(self, rows: np.ndarray) -> DayEvents:
        return DayEvents(**{f.name: getattr(self, f.name)[rows] for f in dataclasses.fields(self)})

    def __len__(self) -> int:
        return int(self.learner.size)


def _concat(a: DayEvents, b: DayEvents) -> DayEvents:
    return DayEvents(
        **{f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)]) for f in dataclasses.fields(a)}
    )


def simulate_day(pop: Population, cfg: GeneratorConfig, day: int, day_start: int) -> DayEvents:
    """Valid events of day ``day`` (0-based), timestamps inside [day_start, day_start + 1 day)."""
    rng = rng_for(cfg.seed, 1, day)
    since = day - pop.enrol_day
    p = pop.p_active.copy()
    fading = pop.archetype == ARCHETYPES.index("fading")
    p[fading] *= np.exp(-np.maximum(since[fading], 0) / pop.fade_tau[fading])
    # Crammers are busy two days a week and sporadic otherwise.
    cram = (pop.archetype == ARCHETYPES.index("cramming")) & ((day + pop.cram_phase) % 7 < 2)
    p[cram] = 0.9
    p[day > pop.drop_day] *= 0.05
    active = np.flatnonzero((since >= 0) & (rng.random(p.size) < p))

    app_change = cfg.app_version_change_day is not None and day >= cfg.app_version_change_day
    scale = pop.intensity[active] * np.where(cram[active], 3.0, 1.0)
    lurk = pop.archetype[active] == ARCHETYPES.index("lurking")
    forum = pop.forum[active]
    logins = 1 + rng.poisson(0.4, active.size)
    if app_change:
        logins = 2 * logins  # the new client logs a login on every app resume
    plays = rng.poisson(2.0 * scale * np.where(lurk, 1.3, 1.0))
    quizzes = rng.poisson(1.2 * scale * np.where(lurk, 0.15, 1.0))
    counts = {
        "login": logins,
        "video_play": plays,
        "video_complete": rng.binomial(plays, pop.completion[active]),
        "quiz_submit": quizzes,
        "forum_post": rng.poisson(0.15 * scale * forum),
        "forum_reply": rng.poisson(0.2 * scale * forum),
        "forum_like": rng.poisson(0.4 * scale * np.where(lurk, 1.0, forum)),
        "resource_download": rng.poisson(0.3 * scale),
        "page_view": rng.poisson(3.0 * scale),
        # Learners who get quiz answers wrong look up explanations.
        "explanation_view": rng.poisson(0.1 + 0.6 * quizzes * (1.0 - pop.accuracy[active])),
    }
    learner = np.concatenate([np.repeat(active, c) for c in counts.values()])
    etype = np.concatenate([np.full(int(c.sum()), TYPE_CODE[name], np.int8) for name, c in counts.items()])
    m = learner.size

    # One session per active learner-day around the learner's preferred hour; events fall inside it.
    session_start = pop.pref_hour[active] * 3600 + rng.normal(0, 5400, active.size)
    session_len = rng.lognormal(np.log(2400), 0.5, active.size)
    pos = np.searchsorted(active, learner)
    sec = np.clip(session_start[pos] + rng.random(m) * session_len[pos], 0, DAY_S - 1).astype(np.int64)

    type_shift = np.zeros(len(EVENT_TYPES))
    type_shift[[TYPE_CODE["video_play"], TYPE_CODE["explanation_view"]]] = [1.3, 0.5]
    duration = rng.lognormal(pop.dwell_log_s[learner] + type_shift[etype], 0.5)
    is_login = etype == TYPE_CODE["login"]
    duration[is_login] = session_len[pos[is_login]] / logins[pos[is_login]]
    if app_change:
        duration = duration / 2.0  # the new client counts foreground time only
    has_duration = np.isin(etype, [TYPE_CODE[t] for t in DURATION_TYPES])
    duration = np.where(has_duration, np.maximum(np.round(duration), 1), -1).astype(np.int64)

    quiz = etype == TYPE_CODE["quiz_submit"]
    acc = pop.accuracy[learner]
    correct = np.where(quiz, rng.random(m) < acc, -1).astype(np.int8)
    attempt = np.where(quiz, 1 + rng.poisson(1.5 * (1.0 - acc)), 0).astype(np.int64)

    events = DayEvents(learner, etype, day_start + sec, duration, correct, attempt, np.full(m, np.nan))
    if cfg.paid:
        events = _concat(events, _billing_events(pop, day, day_start, rng))
    return events


def _billing_events(pop: Population, day: int, day_start: int, rng: np.random.Generator) -> DayEvents:
    """Purchases on the enrolment day, monthly renewals every 30 days, cancellations on their day."""
    since = day - pop.enrol_day
    paying = pop.plan > 0
    cancelled = (pop.cancel_day >= 0) & (pop.cancel_day < day)
    kinds = {
        "purchase": paying & (since == 0),
        "subscription_renew": paying & (pop.plan == 1) & (since > 0) & (since % 30 == 0) & ~cancelled,
        "subscription_cancel": pop.cancel_day == day,
    }
    learner = np.concatenate([np.flatnonzero(mask) for mask in kinds.values()])
    etype = np.concatenate([np.full(int(mask.sum()), TYPE_CODE[k], np.int8) for k, mask in kinds.items()])
    m = learner.size
    return DayEvents(
        learner=learner,
        etype=etype,
        ts=day_start + rng.integers(0, DAY_S, m),
        duration=np.full(m, -1, np.int64),
        correct=np.full(m, -1, np.int8),
        attempt=np.zeros(m, np.int64),
        amount=np.where(etype == TYPE_CODE["subscription_cancel"], np.nan, pop.price[learner]),
    )
