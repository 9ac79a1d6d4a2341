"""Custom TFX components of the dropout-risk pipeline."""
