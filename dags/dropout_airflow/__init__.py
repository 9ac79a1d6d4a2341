"""Objects the dropout DAG files wire together: TFX subprocess operators, review policy, pipeline graph.

Nothing here imports TFX: Airflow (protobuf 7) and TFX (protobuf < 5) live in separate environments,
so every step that touches TFX runs ``.venv-tfx/bin/python -m ...`` as a subprocess.
"""
