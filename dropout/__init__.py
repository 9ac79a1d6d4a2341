"""dropout-risk: which learners are about to drop out, and what to do about it.

Layers, each importing only the ones listed before it (enforced by import-linter, ``make style``):

``contract`` (features, raw events, settings, decisions) -> ``feedback`` (the early-warning store)
-> ``ingestion`` (landing files -> examples) -> ``pipeline`` (TFX: components, model, champion)
-> ``review`` (what stewards and managers read and decide) -> ``registry`` (MLflow: runs, aliases)
-> ``monitoring`` (drift and skew) -> ``serving`` | ``warning`` (the model server; the early-warning job).
"""
