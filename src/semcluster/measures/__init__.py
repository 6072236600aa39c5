"""Measures on a fitted model: fit indices, information inverse, modification indices, scores."""
