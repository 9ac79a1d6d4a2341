"""Plain-Python core of the dropout-risk product: data contract, settings, generator, ingestion."""
