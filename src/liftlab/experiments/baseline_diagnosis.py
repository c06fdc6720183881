"""`liftlab diagnose` without a recipe diagnoses the model `liftlab improve` would start from.

Both commands then describe one model: the data profile's baseline (a pretrained probe at 224 px on
photographs, a from-scratch net counted in optimizer steps on icons), with the user's `--set`s on top, and the
diagnosis says so in its `baseline_source`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from liftlab.config import Recipe, apply_overrides
from liftlab.data.check import check_data
from liftlab.diagnose.diagnosis import DiagnoseSettings, run_diagnosis
from liftlab.experiments.improve.profile import PROFILE_SOURCE, profiled_baseline
from liftlab.records import Diagnosis


def diagnose_profiled(spec: str, user_overrides: list[str], out: Path, settings: DiagnoseSettings) -> Diagnosis:
    """Profile the data (the training split's geometry and counts), then diagnose that baseline."""
    check = check_data(spec, apply_overrides(Recipe(), user_overrides).data)
    recipe, profile = profiled_baseline(check, user_overrides)
    source = (PROFILE_SOURCE, *profile.reasons)
    return run_diagnosis(spec, recipe, out, replace(settings, data_check=check, baseline_source=source))
