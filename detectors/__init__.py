"""Detectors: pure statistical functions over the per-client aggregates the dbt marts produce.

``detectors.stats`` is the statistics core every detector (WHO, WHAT, WHEN, HOW) shares: rates with
intervals, empirical-Bayes shrinkage, lifts, tests against the rest, Benjamini–Hochberg control,
position-adjusted (Mantel–Haenszel) effects, family rankings and the pattern confidence.
"""
