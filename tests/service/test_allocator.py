"""The serving process keeps the memory a batch freed: the next batch touches no fresh pages."""

from __future__ import annotations

import ctypes
import platform
import subprocess
import sys

import pytest

from service.server import allocator

PROBE = """
import resource, sys, threading
import numpy as np
from service.server.allocator import keep_freed_memory

if sys.argv[1] == "keep":
    assert keep_freed_memory()

def batch():  # a 10,000-row hidden layer and its activation, in a thread of the pool as in the service
    z = np.ones((10_000, 320))
    np.tanh(z)

batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    thread = threading.Thread(target=batch)
    thread.start()
    thread.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    output = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    return int(output)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")
def test_batches_after_the_first_reuse_the_memory_it_freed() -> None:
    # 25 MB arrays are 6,000 pages: given back and faulted in again on every batch, they would fault thousands
    # of times; kept, they fault about never
    assert _page_faults("keep") < 300


def test_another_c_library_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_library(name: object) -> object:
        raise OSError("no C library")

    monkeypatch.setattr(ctypes, "CDLL", no_library)
    assert allocator.keep_freed_memory() is False
