"""`liftlab tune` and `liftlab worker`: hyperparameter search as an Optuna study.

The search space is built from the strategies' own tuning ranges (`--space lr,weight-decay,dropout`),
sampled with multivariate TPE, and pruned by epochs (Hyperband or successive halving on the
validation accuracy reported after every epoch). The study lives in an Optuna storage: SQLite in the
output folder by default, or any RDB URL (PostgreSQL for many machines), where any number of
`liftlab worker` processes on any machines take trials until the study's target is reached.

Heartbeats: a worker's running trial sends one every HEARTBEAT_S; a trial silent for GRACE_S (its
worker was killed) is marked failed by the next worker that asks for a trial, and Optuna's retry
callback enqueues a copy with the same parameters, so the study still completes.

Passwords in storage URLs never appear in output, logs, reports or stored records: every message
passes through `redact`, and `tune.json` records the redacted URL.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from liftlab.config import Recipe, recipe_from_dict, with_values
from liftlab.errors import BadInputError
from liftlab.experiments.runner import Job
from liftlab.experiments.session import Session
from liftlab.experiments.store import RunStore, run_key
from liftlab.experiments.tracking import start_tracking
from liftlab.records import Epoch
from liftlab.records.tune import RepeatedConfiguration, SearchSpace, TrialSummary, TuneResult
from liftlab.redaction import cannot_open, redact
from liftlab.stats import mean_ci
from liftlab.strategies import apply_strategies, get

DEFAULT_SPACE = ("lr", "weight-decay", "dropout", "label-smoothing")
HEARTBEAT_S = 5
GRACE_S = 20
MAX_RETRIES = 2
TARGET_ATTR = "target_trials"  # study attribute: how many finished trials the study wants in total
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class TuneSettings:
    trials: int = 20
    timeout: float | None = None
    study: str = "liftlab-tune"
    storage: str | None = None
    space: tuple[str, ...] = DEFAULT_SPACE
    repeats: int = 3  # seeds for the top configurations before one is crowned
    top: int = 2  # how many top configurations are repeated
    pruner: str = "hyperband"
    sampler: str = "tpe"  # "random" samples independently of results (same seed, same configurations)
    seed: int = 0
    quiet: bool = True
    track: str | None = None  # MLflow tracking URI (`experiments/tracking.py`)


def open_storage(url: str, grace_s: float = GRACE_S) -> RDBStorage:
    """An RDB storage with heartbeats and retry of trials whose worker died; errors never show the password."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # liftlab prints its own one line per trial
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna, and stable since 2.8
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url,
                heartbeat_interval=max(1, min(HEARTBEAT_S, int(grace_s / 4))),
                grace_period=max(int(grace_s), 2),
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES),
            )
    except Exception as error:  # drivers raise their own types; all mean "cannot open"
        raise cannot_open(url, error) from None


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(multivariate=True, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise BadInputError(f"--sampler {name!r}: expected tpe or random")


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise BadInputError(f"--pruner {name!r}: expected hyperband, halving or none")


def check_space(names: tuple[str, ...]) -> dict[str, SearchSpace]:
    """Each name's search space, from its strategy; a strategy without a setting cannot be tuned."""
    spaces = {}
    for name in names:
        strategy = get(name)  # an unknown name lists the known ones
        if strategy.setting is None:
            raise BadInputError(f"--space {name}: the strategy has no setting to tune; choose strategies with =VALUE")
        spaces[name] = strategy.setting.search_space()
    return spaces


def suggest(trial: optuna.Trial, spaces: Mapping[str, SearchSpace]) -> list[str]:
    """The strategies (as `name=value` strings) that this trial's sampled values make."""
    chosen = []
    for name, space in spaces.items():
        value: Any
        if space.kind == "categorical":
            value = trial.suggest_categorical(name, list(space.choices))
        elif space.kind == "int":
            low, high = space.bounds
            value = trial.suggest_int(name, int(low), int(high), log=space.log)
        else:
            low, high = space.bounds
            value = trial.suggest_float(name, float(low), float(high), log=space.log)
        chosen.append(get(name).canonical(value))
    return chosen


def study_recipe(study: optuna.Study) -> tuple[str, Recipe, dict[str, SearchSpace]]:
    """(DATA, base recipe, search space) stored in the study by `tune`, so workers need only its name."""
    attrs = study.user_attrs
    if "data" not in attrs or "recipe" not in attrs:
        raise BadInputError(f"study {study.study_name!r}: not a liftlab tune study (no data or recipe recorded)")
    where = f"study {study.study_name}"
    spaces = {name: SearchSpace.from_json(space, f"{where}: space {name}") for name, space in attrs["space"].items()}
    return str(attrs["data"]), recipe_from_dict(attrs["recipe"], where), spaces


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


class Objective:
    """Train one sampled recipe, reporting validation accuracy each epoch so the pruner can stop it."""

    def __init__(self, spec: str, base: Recipe, spaces: dict[str, SearchSpace], quiet: bool = True) -> None:
        from liftlab.data import load_data

        self.spec, self.base, self.spaces, self.quiet = spec, base, spaces, quiet
        self.data = load_data(spec, base.data, quiet=quiet)

    def __call__(self, trial: optuna.Trial) -> float:
        from liftlab.train import fit

        strategies = suggest(trial, self.spaces)
        recipe = apply_strategies(self.base, strategies)
        trial.set_user_attr("strategies", strategies)
        epochs_done = {"n": 0}

        def report(epoch: int, record: Epoch) -> None:
            epochs_done["n"] = epoch
            trial.set_user_attr("epochs_trained", epoch)
            value = record.val_acc
            if value is None or not math.isfinite(value):
                raise optuna.TrialPruned(f"no finite validation accuracy at epoch {epoch}")
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        result = fit(recipe, self.data, callbacks=[report], quiet=True)
        trial.set_user_attr("seconds", result.seconds)
        if result.stopped_reason is not None or result.val_acc is None:
            # never a best trial: a run that diverged is pruned with its reason recorded
            trial.set_user_attr("stopped_reason", result.stopped_reason or "no validation accuracy")
            raise optuna.TrialPruned(result.stopped_reason)
        return float(result.val_acc)


def storage_url(settings: TuneSettings, out: Path) -> str:
    """--storage, or SQLite `tune.db` in the output folder."""
    return settings.storage or f"sqlite:///{(out / 'tune.db').resolve()}"


def create_study(spec: str, base: Recipe, settings: TuneSettings, out: Path) -> optuna.Study:
    """Create (or reopen) the study and record what its workers need: DATA, recipe, space, target."""
    url = storage_url(settings, out)
    out.mkdir(parents=True, exist_ok=True)
    spaces = check_space(settings.space)
    study = optuna.create_study(
        study_name=settings.study,
        storage=open_storage(url),
        direction="maximize",
        sampler=make_sampler(settings.sampler, settings.seed),
        pruner=make_pruner(settings.pruner, base.epochs),
        load_if_exists=True,
    )
    recorded = study.user_attrs
    if recorded.get("data") not in (None, spec):
        raise BadInputError(
            f"study {settings.study!r} tunes {recorded['data']!r}, not {spec!r}; use another --study name"
        )
    if recorded.get("recipe") not in (None, base.model_dump(mode="json")):
        raise BadInputError(
            f"study {settings.study!r} was created with another recipe; pass the same --recipe/--set, "
            "or use another --study name"
        )
    study.set_user_attr("data", spec)
    study.set_user_attr("recipe", base.model_dump(mode="json"))
    study.set_user_attr("space", {name: space.to_json() for name, space in spaces.items()})
    study.set_user_attr("pruner", settings.pruner)
    study.set_user_attr("sampler", settings.sampler)
    study.set_user_attr(TARGET_ATTR, max(int(recorded.get(TARGET_ATTR, 0)), settings.trials))
    return study


def load_study(url: str, name: str, seed: int | None = None, grace_s: float = GRACE_S) -> optuna.Study:
    """Join an existing study from any machine: its recipe, space and pruner come from the study itself.

    A trial whose worker has sent no heartbeat for `grace_s` seconds is failed and retried."""
    storage = open_storage(url, grace_s)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise BadInputError(f"study {name!r} does not exist in {redact(url)}; create it with `liftlab tune`") from None
    epochs = int(study.user_attrs.get("recipe", {}).get("epochs", 10))
    return optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=make_sampler(str(study.user_attrs.get("sampler", "tpe")), seed),
        pruner=make_pruner(str(study.user_attrs.get("pruner", "hyperband")), epochs),
    )


def work(study: optuna.Study, trials: int | None = None, timeout: float | None = None, quiet: bool = True) -> int:
    """Take trials from `study` until `trials` have run here, or the study's target is reached, or
    `timeout` seconds pass. Returns how many trials this process ran."""
    spec, base, spaces = study_recipe(study)
    objective = Objective(spec, base, spaces, quiet)
    target = int(study.user_attrs.get(TARGET_ATTR, 0))
    ran = {"n": 0}

    def stop_at_target(study: optuna.Study, trial: FrozenTrial) -> None:
        ran["n"] += 1
        if not quiet:
            value = "" if trial.value is None else f" val_acc {trial.value:.4f}"
            print(
                f"trial {trial.number} {trial.state.name.lower()}{value} ({finished_count(study)}/{target})", flush=True
            )
        if trials is None and finished_count(study) >= target:
            study.stop()

    if trials is None and finished_count(study) >= target:
        return 0
    study.optimize(
        objective,
        n_trials=trials,
        timeout=timeout,
        callbacks=[stop_at_target],
        catch=(),  # a crash in a trial is a bug to see, not a trial to skip
        gc_after_trial=True,
    )
    return ran["n"]


Scorer = Callable[[list[Recipe]], list[float | None]]
"""Validation accuracies of recipes, trained (or found in the run store) together."""


def repeat_top(study: optuna.Study, settings: TuneSettings, score: Scorer) -> list[RepeatedConfiguration]:
    """Re-train the top configurations on `repeats` seeds the search did not use; their mean decides.

    The trial's own score chose it, so it is kept apart (`search_score`) and never averaged in: the best of
    many noisy scores is biased upwards (the winner's curse), and counting it would carry that luck into the
    mean and its interval.
    """
    _, base, _ = study_recipe(study)
    complete = sorted(
        study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: -float(t.value or 0.0)
    )
    seeds = [base.seed + offset for offset in range(1, settings.repeats + 1)]  # the search trained base.seed
    top = complete[: settings.top]
    recipes = [
        with_values(apply_strategies(base, list(trial.user_attrs["strategies"])), {"seed": seed})
        for trial in top
        for seed in seeds
    ]
    values = score(recipes)
    results = []
    for index, trial in enumerate(top):
        mine = values[index * len(seeds) : (index + 1) * len(seeds)]
        scores = tuple(float(v) if v is not None else float("nan") for v in mine)
        finite = [s for s in scores if math.isfinite(s)]
        mean, interval = mean_ci(finite) if finite else (float("nan"), (float("nan"), float("nan")))
        results.append(RepeatedConfiguration(trial.number, tuple(trial.user_attrs["strategies"]), trial.value,
                                             tuple(seeds), scores, mean, interval))  # fmt: skip
    results.sort(key=lambda r: -r.mean)
    return results


def session_scorer(spec: str, session: Session) -> Scorer:
    """Scores through the experiment session: repeats are runs in the store like any other, so a rerun of
    `tune` finds them instead of training them again (validation only: the test split is not scored)."""

    def score(recipes: list[Recipe]) -> list[float | None]:
        jobs = [Job(run_key(spec, r, {"tune_repeat": 1}), spec, r.model_dump(mode="json"), score_test=False)
                for r in recipes]  # fmt: skip
        records = session.run(jobs).records
        return [None if records[job.key].failed else records[job.key].val_acc for job in jobs]

    return score


def trial_record(trial: FrozenTrial) -> TrialSummary:
    return TrialSummary(
        number=trial.number,
        state=trial.state.name,
        value=trial.value,
        params=dict(trial.params),
        strategies=tuple(trial.user_attrs.get("strategies", [])),
        epochs_trained=int(trial.user_attrs.get("epochs_trained", 0)),
        seconds=trial.user_attrs.get("seconds"),
        intermediate={str(k): v for k, v in sorted(trial.intermediate_values.items())},
        retried_from=trial.system_attrs.get("failed_trial"),
    )


def importances(study: optuna.Study) -> dict[str, float]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2 or not study.best_trial.params:
        return {}
    try:
        found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):  # too few distinct values to split on
        return {}
    return {name: float(value) for name, value in found.items()}


def summarise(study: optuna.Study, url: str, repeated: list[RepeatedConfiguration]) -> TuneResult:
    spec, base, spaces = study_recipe(study)
    trials = tuple(trial_record(t) for t in study.get_trials(deepcopy=False))
    best_strategies = repeated[0].strategies if repeated else ()
    best_recipe = apply_strategies(base, list(best_strategies)) if repeated else base
    states = [t.state for t in trials]
    return TuneResult(
        data=spec,
        study=study.study_name,
        storage=redact(url),
        space=spaces,
        pruner=study.user_attrs.get("pruner"),
        target_trials=study.user_attrs.get(TARGET_ATTR),
        counts={state: states.count(state) for state in sorted(set(states))},
        epochs_trained=sum(t.epochs_trained for t in trials),
        epochs_unpruned=int(base.epochs * len(trials)),
        best_strategies=best_strategies,
        best_recipe=best_recipe.model_dump(mode="json"),
        repeated=tuple(repeated),
        importances=importances(study),
        trials=trials,
    )


def run_tune(
    spec: str, base: Recipe, settings: TuneSettings, out: Path, on_message: Callable[[str], None] = print
) -> TuneResult:
    """Create or resume the study, run trials here until the target, repeat the best, write outputs."""
    from liftlab.io import write_json, write_text

    url = storage_url(settings, out)
    study = create_study(spec, base, settings, out)
    asked = {"data": spec, "study": settings.study, "space": list(settings.space), "trials": settings.trials}
    tracker = start_tracking(settings.track, "tune", f"tune {spec} ({settings.study})", asked)
    before = {trial.number for trial in study.get_trials(deepcopy=False)}
    done = finished_count(study)
    if done < settings.trials:
        on_message(f"study {settings.study} in {redact(url)}: {done} of {settings.trials} trials done")
        work(study, None, settings.timeout, settings.quiet)
    session = Session(RunStore.in_folder(out), tracker=tracker)
    repeated = repeat_top(study, settings, session_scorer(spec, session))
    summary = summarise(study, url, repeated)
    write_json(out / "tune.json", summary.to_json())
    write_text(out / "best_recipe.yaml", recipe_from_dict(dict(summary.best_recipe)).to_yaml())
    from liftlab.report.tune import write_tune_report

    write_tune_report(summary, out)
    if tracker is not None:  # the trials this invocation ran (a resumed study's earlier ones were logged then)
        for trial in summary.trials:
            if trial.number not in before:
                tracker.log_trial(trial, base.model_dump(mode="json"))
        best = summary.best
        figures = {"best_mean_val_acc": best.mean if best else None,
                   "best_ci95_low": best.ci95[0] if best else None, "best_ci95_high": best.ci95[1] if best else None,
                   "epochs_trained": float(summary.epochs_trained),
                   "epochs_unpruned": float(summary.epochs_unpruned)}  # fmt: skip
        texts = {"liftlab.best_strategies": ", ".join(summary.best_strategies)}
        tracker.finish_parent(figures, texts, [out / "report.html", out / "tune.json", out / "best_recipe.yaml"])
    return summary
