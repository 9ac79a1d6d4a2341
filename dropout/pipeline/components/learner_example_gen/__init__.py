"""LearnerExampleGen: one span of raw landing events -> pseudonymised learner examples + quarantine."""
