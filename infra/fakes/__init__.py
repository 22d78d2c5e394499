"""Fakes of the outside services, reached over real HTTP by ``make run``, tests and benchmarks.

Each fake is a module of its own (``infra.fakes.telegram``); this package imports none of them,
so ``python -m infra.fakes.<name>`` runs one without importing it twice.
"""
