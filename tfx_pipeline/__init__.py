"""TFX pipeline definition, Transform and Trainer module code, and runners."""
