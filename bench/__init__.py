"""Benchmarks: ``python -m bench [--quick|--full]`` runs them all; see docs/benchmarks.md."""
