"""Reliability checks of issue #9: API fuzzing, update semantics, crashes under load, a soak.

``python -m tests.reliability [--full]`` runs them with the figures printed.
"""
