"""The pipeline's custom TFX components: LearnerExampleGen (ingestion) and FairnessGate (blessing)."""
