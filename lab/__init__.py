"""The lab: what builds and studies the product without being part of it. Product code never imports it.

``generator`` (a synthetic learning platform's landing files, learners and outcomes), ``oulad`` (the
Open University Learning Analytics Dataset: the mapping into landing files and the comparison with
baselines), ``fixture_model`` (a real pushed-model directory without a pipeline run, for tests and
benchmarks) and ``demo`` (two spans through the pipeline without Airflow: ``make run-local``).
"""
