"""Exceptions that name the file and the problem, so a batch can report each failure clearly."""

from __future__ import annotations

from pathlib import Path


class SpinemarkError(Exception):
    """Base class of every error spinemark raises on purpose."""


class InputError(SpinemarkError):
    """An input image (or truth file) that cannot be used: unreadable, wrong shape, bad geometry, ..."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class OutputError(SpinemarkError):
    """An output that cannot be written (exists without overwrite, unwritable folder, name clash)."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
