"""`diagnose` through its Python API: a data check made beforehand (as `improve` makes one) is used as given."""

from __future__ import annotations

from liftlab.config import Recipe, apply_overrides
from liftlab.data.check import CheckReport
from liftlab.diagnose.diagnosis import DiagnoseSettings, diagnose


def test_a_data_check_made_before_is_used_instead_of_checking_again() -> None:
    recipe = apply_overrides(Recipe(), ["data.size=8", "model.width=8", "epochs=2"])
    # digits is balanced and has no duplicates across splits; this check says otherwise, so its findings
    # can only come from the check handed in
    handed_in = CheckReport("builtin:digits", ["0", "1"], {"train": {"0": 90, "1": 10}}, 9.0, {},
                            duplicates_across=[["a.png", "b.png"]])  # fmt: skip
    result = diagnose("builtin:digits", recipe, DiagnoseSettings(quick=True, max_seconds=0.0, data_check=handed_in))
    assert {"CLASS_IMBALANCE", "DUPLICATES_ACROSS_SPLITS"} <= set(result.codes)
    assert result.data_check["imbalance_ratio"] == 9.0 and result.data_check["duplicates_across"] == 1

    checked_here = diagnose("builtin:digits", recipe, DiagnoseSettings(quick=True, max_seconds=0.0))
    assert not {"CLASS_IMBALANCE", "DUPLICATES_ACROSS_SPLITS"} & set(checked_here.codes)
