"""The warm executor: TFX-environment commands forked from a process that has already imported TFX.

``server`` (the fork server), ``client`` and ``protocol`` (standard library only: the Airflow tasks use
them), ``python -m dropout.executor serve|supervise|ping``.
"""
