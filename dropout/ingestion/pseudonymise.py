"""Keyed pseudonyms for learner ids, and the train/eval split derived from them.

A pseudonym is HMAC-SHA256(key, raw learner id), hex, truncated to ``PSEUDONYM_CHARS`` characters
(80 bits: collisions are negligible for any learner population). It is computed once per unique
raw id and joined back, never once per event. Without the key a pseudonym cannot be linked back to
the raw id; with another key the same learner gets an unrelated pseudonym.
"""

from __future__ import annotations

import hmac

import numpy as np
import pandas as pd

from dropout.contract.features import PSEUDONYM_CHARS


def pseudonym(raw_id: str, key: bytes) -> str:
    """Pseudonym of one raw learner id."""
    return hmac.digest(key, raw_id.encode("utf-8"), "sha256").hex()[:PSEUDONYM_CHARS]


def pseudonymise(raw_ids: pd.Series, key: bytes) -> np.ndarray:
    """Pseudonyms for a column of raw ids, hashing each distinct id once.

    Raises:
        ValueError: when the key is empty (an unkeyed hash of a learner id is re-identifiable by
            anyone who can enumerate ids).
    """
    if not key:
        raise ValueError("pseudonymisation key is empty; pass the secret from settings.pseudonym_key()")
    codes, uniques = pd.factorize(raw_ids, sort=False)
    hashed = np.array([pseudonym(str(u), key) for u in uniques], dtype=object)
    return hashed[codes] if len(codes) else np.array([], dtype=object)


def eval_split(pseudonyms: np.ndarray, eval_fraction: float) -> np.ndarray:
    """'train' or 'eval' per learner, from the pseudonym itself.

    The pseudonym is a keyed hash, so its leading 32 bits are uniform: a learner lands in eval with
    probability ``eval_fraction``, always the same way for the same key, in every span and course.
    """
    if not 0.0 <= eval_fraction <= 1.0:
        raise ValueError(f"eval_fraction must lie in [0, 1], got {eval_fraction}")
    buckets = np.array([int(p[:8], 16) for p in pseudonyms], dtype=np.float64) / 2.0**32
    return np.where(buckets < eval_fraction, "eval", "train").astype(object)
