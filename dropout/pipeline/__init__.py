"""The TFX training pipeline: its definition, its components, the model, and what a run leaves behind.

``pipeline`` (``create_pipeline``: one block per component), ``components/`` (LearnerExampleGen,
FairnessGate), ``transform`` / ``model`` / ``trainer`` / ``eval_config`` / ``metrics`` (what the
Transform, Trainer and Evaluator run), ``schema`` and ``drift`` (the curated schema and its drift
comparators), ``resolvers`` (the drift baseline and the champion as TFX resolvers), ``runner``
(compile once, run one node of a run), ``outputs`` (what a run produced, from ML Metadata) and
``champion`` (the model being served, its training run, its scores). ``python -m dropout.pipeline``
runs the pipeline or one node.
"""
