"""How a model runs here, decided by measurement: precision (fp32, bf16, fp16), memory layout
(channels_last or contiguous) and torch.compile, each remembered per machine and model shape.

Nothing is assumed because the answers differ by machine. Measured on this project's 2-core AMX CPU:
- bf16 autocast against fp32, 3-stage ConvNet, batch 256 at 32x32: 0.59 s/step against 1.44 s;
  the `fast` net at batch 1024: 1.16 s against 4.25 s. On CPUs without AMX/AVX512-BF16 bf16 is slower.
- torch.compile of the `fast` net, bf16, batch 1024: 51 s to compile, then 1.84 s/step against 1.25 s
  eager (slower: oneDNN's eager kernels are already fused; inductor's CPU code is not). On a GPU it is
  usually faster, and then it pays only in runs long enough to repay the compile time.

The dtype x layout verdict is measured once (a few steps of a copy of the model on random data) and
cached as JSON beside the image cache; compile is measured only when the run is long enough that even
a large speed-up could repay a compile, and whether to use it is decided per run from the cached
timings and the run's own number of steps.
"""

from __future__ import annotations

import copy
import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from liftlab.io import write_json
from liftlab.train.optimizer import ParamGroup
from liftlab.train.optimizer import adamw as fused_or_loop_adamw

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
MAX_COMPILE_GAIN = 0.5  # no compile has more than halved a step here; a run that could not repay its
# compile time even at that gain is not worth measuring compile for
FIRST_COMPILE_GUESS_S = 60.0  # compile time assumed before one is measured here (a cold CPU compile took 51 s)
TIMED_STEPS = 4  # the first two pay for allocation and kernel selection; the best of the rest counts


@dataclass(frozen=True)
class Execution:
    """How a run executes, and the evidence for it (recorded in metrics.json as `execution`)."""

    dtype: str
    memory_format: str
    compiled: bool
    source: str  # "measured", "cached" or "requested"
    seconds_per_step: dict[str, float] = field(default_factory=dict)  # "dtype/layout" -> seconds
    compile_evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def layout(self) -> torch.memory_format:
        return LAYOUTS[self.memory_format]

    def record(self) -> dict[str, Any]:
        return asdict(self)


def machine_id(device: torch.device) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    return f"{name}|torch {torch.__version__}|{torch.get_num_threads()} threads"


def shape_key(model: nn.Module, batch_shape: tuple[int, ...]) -> str:
    shapes = ",".join(f"{tuple(p.shape)}" for p in model.parameters())
    return hashlib.sha256(f"{type(model).__name__}|{shapes}|{batch_shape}".encode()).hexdigest()[:16]


def candidate_dtypes(requested: str, device: torch.device) -> list[str]:
    """The precisions worth timing: the requested one, or for 'auto' those the device runs."""
    if requested != "auto":
        return [requested]
    if device.type == "cuda":
        return ["fp32", "bf16", "fp16"] if torch.cuda.is_bf16_supported() else ["fp32", "fp16"]
    return ["fp32", "bf16"] if device.type == "cpu" else ["fp32"]


def candidate_layouts(requested: str) -> list[str]:
    return list(LAYOUTS) if requested == "auto" else [requested]


REDUCED_PRECISION_GAIN = 0.9
"""A reduced precision is chosen over fp32 only when its step takes at most this share of fp32's. It is less
exact, and a near tie is timing noise: a TrashNet fine-tuning step timed bf16 2.00 s against fp32 2.09 s, and
the run at bf16 then took 140 s an epoch where an fp32 run had taken 112 s."""


def fastest(seconds_per_step: dict[str, float], dtypes: list[str], layouts: list[str]) -> tuple[str, str]:
    """The (dtype, layout) with the fewest seconds per step among the candidates; fp32 unless a reduced
    precision is clearly faster (REDUCED_PRECISION_GAIN).

    >>> fastest({"fp32/channels_last": 2.0, "bf16/channels_last": 0.7}, ["fp32", "bf16"], ["channels_last"])
    ('bf16', 'channels_last')
    >>> fastest({"fp32/channels_last": 2.09, "bf16/channels_last": 2.0}, ["fp32", "bf16"], ["channels_last"])
    ('fp32', 'channels_last')
    """
    timed = {(d, m): seconds_per_step[f"{d}/{m}"] for d in dtypes for m in layouts if f"{d}/{m}" in seconds_per_step}
    if not timed:
        return dtypes[0], layouts[0]
    best = min(timed, key=lambda pair: timed[pair])
    full = [pair for pair in timed if pair[0] == "fp32"]
    if best[0] != "fp32" and full:
        best_full = min(full, key=lambda pair: timed[pair])
        if timed[best] > REDUCED_PRECISION_GAIN * timed[best_full]:
            return best_full
    return best


def worth_measuring_compile(eager_s: float, steps: int, compile_guess_s: float) -> bool:
    """Could compile possibly pay in a run of `steps` steps? Only then is it worth timing."""
    return steps * eager_s * MAX_COMPILE_GAIN > compile_guess_s


def compile_pays(eager_s: float, compiled_s: float, compile_s: float, steps: int) -> bool:
    """Compile when the time it saves over this run's steps exceeds the time it takes to compile.

    >>> compile_pays(eager_s=1.0, compiled_s=0.8, compile_s=50.0, steps=100)
    False
    >>> compile_pays(eager_s=1.0, compiled_s=0.8, compile_s=50.0, steps=1000)
    True
    """
    return steps * (eager_s - compiled_s) > compile_s


def time_steps(
    model: nn.Module,
    batch_shape: tuple[int, ...],
    num_classes: int,
    device: torch.device,
    steps: int = TIMED_STEPS,
    statistic: Callable[[list[float]], float] = min,
    adamw: bool = False,
) -> Callable[[str, str, bool], tuple[float, float]]:
    """A timer: (dtype, layout, compiled) -> (seconds of the first step, `statistic` of the seconds of the
    `steps` - 2 later steps: the best by default, to rank variants), training a copy of `model` on random
    data (the run's global RNG is never touched). SGD steps rank variants; `adamw` times the optimizer a
    fine-tune runs, for a plan that needs the rate itself (its update reads every weight three times:
    EfficientNet-Lite0 partially trained at 96 px, batch 32, 0.141 s a step with SGD, 0.147 with AdamW)."""
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(batch_shape, generator=generator).to(device)
    labels = torch.randint(0, num_classes, (batch_shape[0],), generator=generator).to(device)

    def timer(dtype_name: str, layout: str, compiled: bool) -> tuple[float, float]:
        # dropout in the copy draws from the global RNG: fork it, so a run that measures and a run
        # that finds the verdict cached go on to draw the same numbers
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return time_copy(dtype_name, layout, compiled)

    def time_copy(dtype_name: str, layout: str, compiled: bool) -> tuple[float, float]:
        trial = copy.deepcopy(model).to(memory_format=LAYOUTS[layout]).train()
        runner: nn.Module = torch.compile(trial) if compiled else trial  # type: ignore[assignment]
        trainable = [p for p in trial.parameters() if p.requires_grad]
        optimizer: torch.optim.Optimizer = (
            fused_or_loop_adamw([ParamGroup(params=trainable, weight_decay=0.0, lr_scale=1.0)], 1e-3)
            if adamw
            else torch.optim.SGD(trainable, lr=1e-3)
        )
        dtype = DTYPES[dtype_name]
        inputs = batch.contiguous(memory_format=LAYOUTS[layout])
        timings = []
        for _ in range(max(steps, 3)):
            start = time.perf_counter()
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                loss = F.cross_entropy(runner(inputs).float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            timings.append(time.perf_counter() - start)
        return timings[0], statistic(timings[2:])

    return timer


def time_forward(
    model: nn.Module, batch_shape: tuple[int, ...], device: torch.device
) -> Callable[[str, str, bool], tuple[float, float]]:
    """A timer like `time_steps`'s for forward passes only, in eval mode without gradients (feature extraction)."""
    batch = torch.randn(batch_shape, generator=torch.Generator().manual_seed(0)).to(device)

    def timer(dtype_name: str, layout: str, compiled: bool) -> tuple[float, float]:
        trial = copy.deepcopy(model).to(memory_format=LAYOUTS[layout]).eval()
        dtype = DTYPES[dtype_name]
        inputs = batch.contiguous(memory_format=LAYOUTS[layout])
        timings = []
        with torch.no_grad():
            for _ in range(TIMED_STEPS):
                start = time.perf_counter()
                with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                    trial(inputs)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                timings.append(time.perf_counter() - start)
        return timings[0], min(timings[2:])

    return timer


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def choose_execution(
    recipe_precision: str,
    recipe_layout: str,
    recipe_compile: str,
    model: nn.Module,
    batch_shape: tuple[int, ...],
    num_classes: int,
    device: torch.device,
    cache: Path,
    steps: int,
    timer: Callable[[str, str, bool], tuple[float, float]] | None = None,
    purpose: str = "train",
) -> Execution:
    """Precision, layout and compile for a run of `steps` optimizer steps: as requested, or for 'auto'
    the fastest as measured here (cached in `cache`/precision.json).

    `timer` is injectable so the decision logic can be tested without timing anything, or to time other
    work than a training step; `purpose` names that work in the cache key (a frozen backbone's forward
    passes, "features", may prefer another layout than its training steps).
    """
    dtypes = candidate_dtypes(recipe_precision, device)
    layouts = candidate_layouts(recipe_layout)
    if len(dtypes) == 1 and len(layouts) == 1 and recipe_compile != "auto":
        return Execution(dtypes[0], layouts[0], recipe_compile == "on", "requested")
    timer = timer or time_steps(model, batch_shape, num_classes, device)
    verdict_file = cache / "precision.json"
    verdicts = _read(verdict_file)
    key = f"{machine_id(device)}|{device.type}|{shape_key(model, batch_shape)}"
    key += "" if purpose == "train" else f"|{purpose}"
    entry = verdicts.get(key, {})
    seconds: dict[str, float] = dict(entry.get("seconds_per_step", {}))
    source = "cached"
    for dtype_name in dtypes:
        for layout in layouts:
            if f"{dtype_name}/{layout}" not in seconds:
                seconds[f"{dtype_name}/{layout}"] = timer(dtype_name, layout, False)[1]
                source = "measured"
    dtype_name, layout = fastest(seconds, dtypes, layouts)
    eager_s = seconds[f"{dtype_name}/{layout}"]

    compile_evidence: dict[str, Any] = dict(entry.get("compile", {})).get(f"{dtype_name}/{layout}", {})
    compiled = recipe_compile == "on"
    if recipe_compile == "auto":
        guess = float(verdicts.get("compile_seconds_seen", FIRST_COMPILE_GUESS_S))
        if not compile_evidence and worth_measuring_compile(eager_s, steps, guess):
            compile_evidence = _measure_compile(timer, dtype_name, layout)
            source = "measured"
            if "compile_s" in compile_evidence:
                verdicts["compile_seconds_seen"] = compile_evidence["compile_s"]
        if "compiled_s" in compile_evidence:
            compiled = compile_pays(eager_s, compile_evidence["compiled_s"], compile_evidence["compile_s"], steps)
    if source == "measured":
        compile_table = dict(entry.get("compile", {}))
        if compile_evidence:
            compile_table[f"{dtype_name}/{layout}"] = compile_evidence
        verdicts[key] = {"dtype": dtype_name, "seconds_per_step": seconds, "compile": compile_table}
        write_json(verdict_file, verdicts)
    return Execution(dtype_name, layout, compiled, source, seconds, compile_evidence)


def _measure_compile(timer: Callable[[str, str, bool], tuple[float, float]], dtype: str, layout: str) -> dict[str, Any]:
    try:
        first_s, compiled_s = timer(dtype, layout, True)
    except Exception as error:  # dynamo and inductor raise many types; any failure means: do not compile
        return {"failed": f"{type(error).__name__}: {str(error)[:200]}"}
    return {"compile_s": max(first_s - compiled_s, 0.0), "compiled_s": compiled_s}


def choose_precision(
    requested: str,
    model: nn.Module,
    batch_shape: tuple[int, ...],
    num_classes: int,
    device: torch.device,
    cache: Path,
) -> str:
    """Only the precision (for short auxiliary runs such as the learning-rate range test)."""
    return choose_execution(requested, "channels_last", "off", model, batch_shape, num_classes, device, cache, 0).dtype
