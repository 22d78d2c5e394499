"""The error tree: every class in errors.py, under exactly one fault, drawn in its docstring,
and mapped by the admin API and the CLI, each in one place."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import pytest

import job_scheduler
from job_scheduler import errors
from job_scheduler.cli.main import EXIT_CODES, exit_code
from job_scheduler.errors import FAULTS, JobSchedulerError

ADMIN_SITE = Path(__file__).resolve().parents[2] / "admin_site"
FAMILIES = (errors.SendError, errors.RastarError)  # what a call ended with, not whose fault
EXPECTED = {
    errors.InputError: (422, 2),
    errors.NotFound: (404, 2),
    errors.Conflict: (409, 2),
    errors.Unavailable: (503, 1),
    errors.InternalError: (500, 1),
}


def every_error_class() -> list[type[JobSchedulerError]]:
    """Every subclass of the root defined anywhere in the package (all modules imported)."""
    for module in pkgutil.walk_packages(job_scheduler.__path__, "job_scheduler."):
        if module.name != "job_scheduler.__main__":
            importlib.import_module(module.name)
    found, pending = set(), [JobSchedulerError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            if subclass.__module__.startswith("job_scheduler") and subclass not in found:
                found.add(subclass)
                pending.append(subclass)
    return sorted(found, key=lambda cls: cls.__name__)


CLASSES = every_error_class()
CONCRETE = [cls for cls in CLASSES if cls not in FAULTS and cls not in FAMILIES]


def an(cls: type[JobSchedulerError]) -> JobSchedulerError:
    instance = cls.__new__(cls)  # constructors differ; isinstance is what is mapped
    instance.field = None
    return instance


def test_every_error_class_lives_in_errors_py():
    assert [cls.__name__ for cls in CLASSES if cls.__module__ != "job_scheduler.errors"] == []


def test_the_tree_in_the_docstring_names_every_class():
    drawn = errors.__doc__ or ""
    assert [cls.__name__ for cls in CLASSES if cls.__name__ not in drawn] == []


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda cls: cls.__name__)
def test_every_error_has_exactly_one_fault(cls):
    assert [fault.__name__ for fault in FAULTS if issubclass(cls, fault)] != []
    assert len([fault for fault in FAULTS if issubclass(cls, fault)]) == 1


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda cls: cls.__name__)
def test_the_cli_maps_every_error_by_its_fault(cls):
    (fault,) = (fault for fault in FAULTS if issubclass(cls, fault))
    assert set(EXIT_CODES) == set(FAULTS)
    assert exit_code(an(cls)) == EXPECTED[fault][1]


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda cls: cls.__name__)
def test_the_admin_api_maps_every_error_by_its_fault(cls):
    sys.path.insert(0, str(ADMIN_SITE))
    try:
        from chalicelib.http import STATUSES, status_of
    finally:
        sys.path.remove(str(ADMIN_SITE))
    (fault,) = (fault for fault in FAULTS if issubclass(cls, fault))
    assert set(FAULTS) <= set(STATUSES)
    assert status_of(an(cls))[0] == EXPECTED[fault][0]


def test_the_faults_are_the_roots_of_the_tree():
    for fault in FAULTS:
        assert fault.__bases__ == (JobSchedulerError,)
    for family in FAMILIES:
        assert family.__bases__ == (JobSchedulerError,)
        assert inspect.isclass(family) and family.__subclasses__()
