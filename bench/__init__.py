"""Benchmarks: each module runs as ``.venv/bin/python -m bench.<name>`` from the repository root.

See ``docs/performance.md`` for what each one measures and the figures last measured.
"""
