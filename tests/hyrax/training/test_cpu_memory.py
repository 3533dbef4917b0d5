from __future__ import annotations

import platform
import sys

import pytest

from hyrax.training.cpu_memory import reuse_freed_memory


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="needs glibc"
)
def test_settings_apply_on_glibc_and_can_be_repeated():
    assert reuse_freed_memory()
    assert reuse_freed_memory()
