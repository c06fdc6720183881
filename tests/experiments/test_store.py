"""The run store: a fresh SQLite storage opened by several processes at once opens in every one of them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

OPEN_AND_COUNT = """
import sys, time
from pathlib import Path
from liftlab.experiments.store import RunStore
start = float(sys.argv[2])
while time.time() < start:  # every process creates the schema at the same moment
    time.sleep(0.001)
print(len(RunStore.in_folder(Path(sys.argv[1])).records()))
"""


def test_processes_that_create_one_store_at_once_all_open_it(tmp_path: Path) -> None:
    # without the retry in RunStore, the processes that lose the race to write the schema's version fail
    # with "UNIQUE constraint failed: alembic_version.version_num" (seen in a killed-ablation test)
    for attempt in range(3):
        folder = tmp_path / f"store{attempt}"
        start = time.time() + 4.0  # after the imports of every process
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_AND_COUNT, str(folder), str(start)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        for process in processes:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            assert out.strip() == "0"
