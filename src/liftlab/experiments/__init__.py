"""Experiments: ablations (controlled comparisons of remedies), their statistics and run store."""
