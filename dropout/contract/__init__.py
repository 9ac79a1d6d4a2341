"""What every stage agrees on: features, raw events, settings, and the decisions people make.

Standard library only: the Airflow environment (which cannot import TFX) imports ``decisions`` too.
"""
