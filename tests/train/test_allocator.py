from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """
import resource, sys
import torch
if sys.argv[1] == "keep":
    from liftlab.train.allocator import keep_freed_memory
    assert keep_freed_memory()
torch.zeros(8 << 20).sum()  # the heap grows once either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    torch.ones(8 << 20).sum()  # 32 MB allocated, written and freed, as a step's activations are
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(variant: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHILD, variant], check=True, capture_output=True, text=True)
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_activations_are_reused_instead_of_faulted_in_again() -> None:
    default, kept = _faults("default"), _faults("keep")
    # 20 x 32 MB of fresh pages is about 160,000 faults of 4 KiB; reused heap faults almost none
    assert default > 50_000, default
    assert kept < default / 10, (kept, default)
