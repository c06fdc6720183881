"""Evaluation in the business's terms: metrics with intervals, costs, thresholds, comparison, robustness."""
