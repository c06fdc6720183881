"""The first phases of `improve`: the data check (which refuses data it cannot test on) and the diagnosis
of the baseline (reused from an earlier invocation in the same folder when it answered the same question).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from liftlab.config import Recipe
from liftlab.data.check import CheckReport, check_data
from liftlab.diagnose.diagnosis import DiagnoseSettings, run_diagnosis
from liftlab.errors import BadInputError
from liftlab.experiments.improve.context import ImproveContext, ImproveSettings, StepLog
from liftlab.records import Diagnosis


def checked_data(spec: str, base: Recipe, settings: ImproveSettings, log: StepLog) -> CheckReport:
    """The data check's report; unreadable files (without --skip-bad) and a missing test split are refused."""
    started = log.clock.used()
    report = check_data(spec, base.data)
    if report.unreadable and not settings.skip_bad:
        names = ", ".join(bad.path for bad in report.unreadable[:5])
        raise BadInputError(
            f"DATA {spec}: {len(report.unreadable)} unreadable file(s) ({names}); "
            "run `liftlab data check` for the reasons, or pass --skip-bad"
        )
    if not report.split_size("test"):
        raise BadInputError(
            f"DATA {spec}: no test split; improve tests only on untouched data. "
            "Give a test/ folder, or keep data.test_fraction above 0"
        )
    log.add("data check", f"{sum(map(report.split_size, report.counts))} images", started)
    return report


def diagnosed(ctx: ImproveContext, check: CheckReport, source: tuple[str, ...] = ()) -> Diagnosis:
    """The baseline's diagnosis, written to OUT/diagnosis; an earlier one there is reused when it diagnosed the
    same recipe for the same target (the target is part of what it answered: images for the target)."""
    started = ctx.clock.used()
    folder = ctx.out / "diagnosis"
    stored = _stored_diagnosis(folder / "diagnosis.json")
    if stored and stored.recipe == ctx.base.model_dump(mode="json") and stored.target == ctx.settings.target:
        ctx.step("diagnosis", "reused " + ", ".join(stored.codes), started)
        return stored
    settings = DiagnoseSettings(
        ctx.settings.target, quick=True, skip_bad=ctx.settings.skip_bad, quiet=ctx.settings.quiet,
        max_seconds=ctx.time_plan.diagnosis_seconds(), data_check=check, baseline_source=source,
    )  # fmt: skip
    result = run_diagnosis(ctx.spec, ctx.base, folder, settings)
    detail = ", ".join(result.codes)
    if result.skipped_for_time:
        detail += f" (skipped for time: {', '.join(result.skipped_for_time)})"
    ctx.step("diagnosis", detail, started, trained=1)
    return result


def _stored_diagnosis(path: Path) -> Diagnosis | None:
    """An earlier invocation's diagnosis, or None when there is none or it is unreadable (then it is made
    again: the file is improve's own cache, not the user's input)."""
    try:
        return Diagnosis.from_json(json.loads(path.read_text()), str(path))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, BadInputError) as error:
        print(f"liftlab: {path} cannot be reused ({error}); diagnosing again", file=sys.stderr)
        return None
