"""Shared fixtures for the chemistry tests."""

from __future__ import annotations

import pytest

from chemistry.library import Library, default_library


@pytest.fixture(scope="session")
def library() -> Library:
    return default_library()
