"""Evaluation metrics for attribution maps (localisation, faithfulness, ...)."""
