"""The dedup step pins glibc's mmap threshold, so the index's freed arrays leave the process."""

from __future__ import annotations

import platform

import pytest

from transforms.steps.malloc import fix_mmap_threshold


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_fixed_threshold() -> None:
    assert fix_mmap_threshold() is True
