"""FairnessGate: blesses a model only if the Evaluator blessed it and recall is fair across a fairness slice."""
