# The front door. Each target is one line in the README.
TFX_PY := .venv-tfx/bin/python
CONFIG ?= config/default.toml

.PHONY: setup run run-local test test-fast bench style clean

setup:  ## build both environments from the lock files (idempotent)
	bash scripts/setup.sh

run: setup  ## the main job: local Airflow + MLflow, the training DAG on spans 0 and 1, reviews answered by the logged demo policy
	DEMO_CONFIG=$(CONFIG) bash infra/airflow/run_demo.sh

run-local: setup  ## the same pipeline without Airflow (no reviews, no MLflow): two spans
	$(TFX_PY) -m lab.demo --config $(CONFIG)

AIRFLOW_PY := .venv-airflow/bin/python

# The Airflow tests keep about one core busy (one TFX task at a time), so the two long suites run side by side
# (their progress lines interleave; each prints its own summary and failures).
test: setup style  ## style, then the whole suite in both environments, end-to-end tests included (Airflow and browser too)
	$(AIRFLOW_PY) -m pytest -q tests/dags
	@bash scripts/setup-browser.sh || echo "make test: no chromium, so the browser test will be SKIPPED (see its reason)"
	$(MAKE) --no-print-directory -j2 test-tfx-suite test-airflow-suite

.PHONY: test-tfx-suite test-airflow-suite
test-tfx-suite:
	$(TFX_PY) -m pytest -q

test-airflow-suite:
	$(AIRFLOW_PY) -m pytest -q tests/airflow

test-fast: setup  ## the suite without end-to-end pipeline runs
	$(TFX_PY) -m pytest -q -m "not e2e"
	$(AIRFLOW_PY) -m pytest -q tests/dags

bench: setup  ## benchmarks (figures go into the README)
	$(TFX_PY) benchmarks/bench_ingest.py
	$(TFX_PY) benchmarks/bench_pipeline.py
	$(TFX_PY) benchmarks/bench_serving.py --rates 10 25 50 100 200 400 --seconds 8
	$(TFX_PY) benchmarks/bench_scoring.py --learners 100000

.PHONY: serve warn
serve: setup  ## serve the pushed model with TF Serving's REST API (token: $$DROPOUT_SERVING_TOKEN or work/secrets/serving.token)
	$(TFX_PY) -m dropout.serving --config $(CONFIG)

warn: setup  ## one early-warning run: risk list, reasons, skew check against the champion's training data, interventions (held when skewed)
	$(TFX_PY) -m dropout.warning run --config $(CONFIG)

style: setup  ## ruff (lint, format), mypy over the product, the DAG helpers and the lab, import-linter (layers)
	.venv-tfx/bin/ruff check .
	.venv-tfx/bin/ruff format --check .
	PYTHONPATH=dags .venv-tfx/bin/mypy
	PYTHONPATH=dags .venv-tfx/bin/lint-imports

clean:  ## remove generated data, pipeline outputs and metadata (keeps environments and the key)
	rm -rf work/data work/pipeline work/metadata work/serving

.PHONY: up down demo-airflow test-airflow browser
up:  ## start Airflow locally (SQLite, LocalExecutor) with the project's DAGs; prints URL and logins
	bash infra/airflow/start.sh

down:  ## stop the local Airflow
	bash infra/airflow/stop.sh

demo-airflow: run  ## the former name of `make run`

browser:  ## Debian chromium + chromium-driver for the browser test (apt-get, needs root; not part of setup)
	bash scripts/setup-browser.sh

test-airflow: setup browser  ## Airflow end to end: reviews via REST API, drift monitor, steward and manager in headless Chromium
	$(AIRFLOW_PY) -m pytest -q tests/airflow

.PHONY: rollback oulad bench-oulad
rollback: setup  ## move the registry's champion alias back (or to VERSION=N) and push that model again
	$(TFX_PY) -m dropout.registry rollback $(if $(VERSION),--to-version $(VERSION))

oulad: setup  ## real learners (OULAD): our model vs gradient-boosted trees vs total clicks, 2/4/8/12 weeks (~1 h)
	$(TFX_PY) benchmarks/oulad_compare.py

bench-oulad: setup  ## the unchanged pipeline on OULAD: wall time and peak memory per component
	$(TFX_PY) benchmarks/bench_oulad_pipeline.py

.PHONY: bench-lead-time
bench-lead-time: setup  ## lead time of the early warning: daily flags of two trainings against the 'no activity for N days' rules (docs/figures.md)
	$(TFX_PY) benchmarks/bench_lead_time.py
