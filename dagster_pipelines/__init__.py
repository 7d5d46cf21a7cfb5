"""Dagster definitions for the learning path: dbt models now; detectors, store and health later."""
