"""Is the champion still right for the data? Drift between spans, concept drift, training/serving skew.

``drift`` (the drift monitor: the newest span against the champion's training span, and the champion's
AUC / F1 on newly labelled learners), ``skew`` (the early-warning job's serving examples against the
champion's training statistics). ``python -m dropout.monitoring drift-check`` is the monitor's task.
"""
