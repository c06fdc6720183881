"""Point 2: a process killed while writing a checkpoint or a result record leaves the previous complete
file or the new one, never a partial one. Counted over many kills at random moments."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from liftlab.train.checkpoint import load_checkpoint

KILLS = 12
"""Writers killed at random points: each starts a Python that imports torch (about 3.5 s here), so 12 rather
than 25 keeps `make test` under its 20 minutes; each kill lands inside a write most of the time."""

# Writes checkpoints and a large JSON record in a loop, each carrying its generation number, so a
# reader can tell a complete file of any generation from a partial one.
WRITER = """
import sys, torch
from pathlib import Path
from liftlab.io import write_json
from liftlab.train.checkpoint import save_checkpoint
folder = Path(sys.argv[1])
model = torch.nn.Linear(256, 256)
generation = int(sys.argv[2])
print("ready", flush=True)
while True:
    generation += 1
    with torch.no_grad():
        model.weight.fill_(generation)
    save_checkpoint(folder / "checkpoint", generation, model, {"generation": generation, "blob": torch.randn(50000)})
    write_json(folder / "record.json", {"generation": generation, "values": list(range(20000))})
"""


def test_killed_writers_leave_only_complete_files(tmp_path: Path) -> None:
    rng = random.Random(0)
    last_generation = 0
    checked = 0
    for _ in range(KILLS):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(last_generation)],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))  # somewhere inside a write, most of the time
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        loaded = load_checkpoint(tmp_path / "checkpoint")
        if loaded is not None:
            weights, state = loaded
            generation = int(state["generation"])
            assert torch.all(weights["weight"] == generation), "weights and state come from the same save"
            assert state["blob"].shape == (50000,)
            last_generation = max(last_generation, generation)
        record = tmp_path / "record.json"
        if record.exists():
            content = json.loads(record.read_text())  # never a truncated JSON document
            assert len(content["values"]) == 20000
        checked += 1
    assert checked == KILLS and last_generation > 0
    leftovers = [p.name for p in tmp_path.glob(".*.tmp")]
    assert len(leftovers) <= KILLS, "temporary files of killed writes are at most one per kill"
