"""Analyses built on fits: bootstrap, power, invariance, measurement, model comparison and more."""
