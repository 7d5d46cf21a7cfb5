"""Conversion Intelligence: command line, database plumbing and the synthetic world."""
