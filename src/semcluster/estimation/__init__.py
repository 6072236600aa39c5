"""Estimation: the estimator registry, the estimators, the optimizer, refits and groups as blocks."""
