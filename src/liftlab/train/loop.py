"""The training loop: one function, read top to bottom.

The training set stays resident on the training device as uint8 (decode once, no DataLoader: on a
2-core machine its workers steal cores from compute). Each epoch is one randperm; each batch is
gathered, augmented and normalised with tensor ops. Loss and accuracy accumulate on the device and
are read once per epoch, so the step loop has no host syncs on a GPU.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from liftlab.augment import augment_batch, flip_coins, mix_batch
from liftlab.config import Recipe
from liftlab.data.cache import cache_root
from liftlab.data.loading import ImageData
from liftlab.models import begin_epoch
from liftlab.progress import make_progress
from liftlab.records import Epoch, history_from_json
from liftlab.train import distributed
from liftlab.train.averaging import ExponentialAverage, Lookahead
from liftlab.train.checkpoint import load_checkpoint, save_checkpoint
from liftlab.train.cleaning import cleaned
from liftlab.train.fitted import EpochCallback, FitResult, data_fitted_model, resolve_device, steps_in_epoch
from liftlab.train.freezing import FineTuning
from liftlab.train.inference import Preprocess, evaluate
from liftlab.train.losses import classification_loss
from liftlab.train.lr_finder import lr_range_test
from liftlab.train.optimizer import make_optimizer, parameter_groups, torch_rates
from liftlab.train.precision import Execution, choose_execution
from liftlab.train.probe import fit_on_features, on_features
from liftlab.train.time_limits import (
    TimeLimits,
    annealed_by_time,
    cut_in_first_epoch,
    non_finite,
    set_lr,
    should_validate,
)

FitFunction = TypeVar("FitFunction", bound=Callable[..., FitResult])


def deterministic_mode(function: FitFunction) -> FitFunction:
    """Run `function(recipe, ...)` with torch's deterministic mode on when `recipe.deterministic`, and
    restore the previous mode after, however it ends."""

    @functools.wraps(function)
    def wrapper(recipe: Recipe, *args: Any, **kwargs: Any) -> FitResult:
        previous = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(previous or recipe.deterministic)
        try:
            return function(recipe, *args, **kwargs)
        finally:
            torch.use_deterministic_algorithms(previous)

    return wrapper  # type: ignore[return-value]


@deterministic_mode
def fit(
    recipe: Recipe,
    data: ImageData,
    *,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    quiet: bool = True,
    callbacks: Sequence[EpochCallback] = (),
    max_seconds: float | None = None,
    record_gradients: bool = False,
    validate_every_epoch: bool = True,
    anneal_within: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> FitResult:
    """Train a model for `recipe` on `data.train`, validating on `data.val` after every epoch.

        With `checkpoint_dir`, a checkpoint is written each epoch; `resume=True` continues from the
        latest one, and on the CPU ends with the same history and weights as an uninterrupted run.
        `record_gradients` adds `grad_norms` to each epoch's record: the mean gradient norm of every
        weight tensor (conv and linear kernels, input to output), for the diagnosis of vanishing and
        exploding gradients. With `validate_every_epoch=False` only the last epoch is validated (the
        others record None): for runs whose curve nobody reads, such as learning-curve points.
        `max_seconds` ends training once that much time has passed, inside an epoch if need be (a time budget;
        the schedule still spans `recipe.epochs`, and `extra["stopped_by_time"]` says after which finished epoch it
        cut): the partial epoch is dropped and the weights are those of the last finished epoch, which its history
        and checkpoint describe; a limit that passes inside the first epoch fails the run (`stopped_reason`).
        `anneal_within` (seconds of training) ends the schedule by then instead (`schedules.schedule_step`): the
        run ends, annealed and validated, at the step where the elapsed share of that time reaches the end of
        the schedule, and `extra["annealed_by_time"]` says at which epoch and step. Such a run depends on the
        machine's speed: `improve` gives it to the fine-tune it plans to the edge of its budget. `clock` (seconds,
    `time.perf_counter` by default) is what both limits read: tests pass a fake one.

        >>> from liftlab.data import load_data
        >>> from liftlab.config import apply_overrides
        >>> recipe = apply_overrides(Recipe(), ["epochs=1", "data.size=8", "model.width=8"])
        >>> fit(recipe, load_data("builtin:digits", recipe.data)).history[0].epoch
        1
    """
    data, cleaning = cleaned(recipe, data, quiet)  # the recipe's data remedies, on the training split only
    if on_features(recipe):  # a linear probe: the frozen backbone's features are computed once and cached
        probe = fit_on_features(
            recipe,
            data,
            quiet=quiet,
            callbacks=callbacks,
            max_seconds=max_seconds,
            record_gradients=record_gradients,
            validate_every_epoch=validate_every_epoch,
            anneal_within=anneal_within,
            clock=clock,
        )
        if cleaning is not None:
            probe.extra["cleaning"] = cleaning.record()
        return probe
    processes = distributed.current()  # one process unless started by torchrun (`train --nproc N`)
    if anneal_within is not None and processes.enabled:
        # each rank's own clock would end the schedule at another step, and the others would wait forever
        raise ValueError("anneal_within: a schedule ended by time needs one process")
    device = resolve_device(recipe.device)
    torch.manual_seed(recipe.seed)
    num_classes = len(data.classes)
    generator = torch.Generator(device=device).manual_seed(recipe.seed)

    images = data.train.images.to(device)
    labels = data.train.labels.to(device)
    preprocess = Preprocess.fit(data.train.images, recipe)
    transform = preprocess.on(device)
    model = data_fitted_model(recipe, data.channels, num_classes, images, transform)
    coins = flip_coins(len(labels), recipe.seed).to(device) if recipe.augment.alternating_flip else None

    n_train = len(labels)
    batch_size = min(recipe.optim.batch_size, n_train)
    local_size = distributed.local_batch(processes, batch_size)  # this process's share of each batch
    steps_per_epoch = steps_in_epoch(n_train, recipe.optim.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    mixing = recipe.augment.mixup > 0 or recipe.augment.cutmix > 0

    history: list[Epoch] = []
    val_predictions: list[int] = []  # of the last validation
    start_epoch = 0
    seconds_before = 0.0
    train_seconds_before = 0.0  # training time and images of the epochs before a resume, for the throughput
    images_before = 0
    extra: dict[str, Any] = {}
    checkpoint = load_checkpoint(checkpoint_dir) if (checkpoint_dir and resume) else None
    if checkpoint is not None:
        saved = checkpoint[1]
        execution = (
            Execution(**saved["execution"])
            if "execution" in saved  # checkpoints before 0.x recorded only the dtype
            else Execution(str(saved.get("dtype", "fp32")), "channels_last", False, "requested")
        )
        extra = dict(saved.get("extra", {}))
    else:
        side = recipe.augment.train_size or recipe.data.size
        batch_shape = (batch_size, data.channels, side, side)
        execution = choose_execution(recipe.precision, recipe.memory_format, recipe.compile, model, batch_shape,
                                     num_classes, device, cache_root(), total_steps)  # fmt: skip
    dtype = execution.torch_dtype
    reduced = dtype != torch.float32
    model = model.to(memory_format=execution.layout)
    # compiled for the training steps only: evaluation batches have other shapes and would recompile
    step_model: nn.Module = torch.compile(model) if execution.compiled else model  # type: ignore[assignment]
    step_model = distributed.wrap(step_model, processes)
    # fp16 (GPU) needs its loss scaled against underflow; bf16 has fp32's range and needs none
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    base_lr, weight_decay = torch_rates(recipe.optim, batch_size, recipe.optim.lr)
    if recipe.optim.lr_find:
        if "lr_found" not in extra:
            extra["lr_found"] = lr_range_test(
                model, images, labels, transform, recipe, dtype, seed=recipe.seed
            ).suggestion
        # the range test's rates are in the recipe's units, like optim.lr
        base_lr, weight_decay = torch_rates(recipe.optim, batch_size, float(extra["lr_found"]))

    tuning = FineTuning(model, recipe.model.finetune, bool(recipe.model.pretrained), recipe.epochs)
    groups = parameter_groups(tuning.optimizer_groups(weight_decay), model, recipe.optim, weight_decay)
    optimizer = make_optimizer(groups, recipe.optim, base_lr)
    ema = ExponentialAverage(model, recipe.optim.ema) if recipe.optim.ema else None
    lookahead = Lookahead(model) if recipe.optim.lookahead else None

    if checkpoint is not None:
        weights, state = checkpoint
        model.load_state_dict(weights)
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        if lookahead is not None:
            lookahead.load_state_dict(state["lookahead"])
        scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history = list(history_from_json(state["history"], f"{checkpoint_dir}: history"))
        start_epoch = int(state["epoch"])
        seconds_before = float(state["seconds"])
        train_seconds_before = float(state.get("train_seconds", 0.0))
        images_before = int(state.get("trained_images", 0))
        if "annealed_by_time" in extra:  # its schedule ended before its epochs did: nothing is left to train
            start_epoch = recipe.epochs
        # On the CPU the resumed run repeats an uninterrupted one exactly (tests/reliability/test_crash_resume.py);
        # GPU kernels may sum in another order unless deterministic mode is on, so say whether it is exact.
        exact = device.type == "cpu" or recipe.deterministic
        extra["resumed"] = [*extra.get("resumed", []), {"from_epoch": start_epoch, "exact": exact}]

    def evaluated_model() -> nn.Module:
        return ema.module if ema is not None else model

    kernels = [p for p in model.parameters() if p.ndim > 1]  # input to output
    stopped_reason: str | None = None
    trained_images = 0
    train_seconds = 0.0
    lr = base_lr
    limits = TimeLimits(total_steps=total_steps, steps_per_epoch=steps_per_epoch, base_lr=base_lr,
                        schedule=recipe.schedule, max_seconds=max_seconds, anneal_within=anneal_within, clock=clock,
                        seconds_before=seconds_before)  # fmt: skip
    # with a time limit, the weights of the last finished epoch, restored when the limit passes inside an epoch
    # (a state-dict copy per epoch: milliseconds beside an epoch)
    finished: dict[str, torch.Tensor] | None = None
    if max_seconds is not None and history:
        finished = {k: v.detach().clone() for k, v in evaluated_model().state_dict().items()}
    with make_progress(quiet) as progress:
        task = progress.add_task("train", total=total_steps, completed=start_epoch * steps_per_epoch, info="")
        for epoch in range(start_epoch, recipe.epochs):
            epoch_start = clock()
            tuning.begin_epoch(epoch)
            begin_epoch(model, epoch, recipe.model.whiten_bias_epochs)
            order = torch.randperm(n_train, generator=generator, device=device)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.int64)
            grad_norm_sum = torch.zeros(len(kernels), device=device)
            annealed = cut = False
            steps_done = 0
            for step in range(steps_per_epoch):
                global_step = epoch * steps_per_epoch + step
                pace = limits.pace(global_step)
                if pace.over_limit and not processes.enabled:
                    cut = True
                    break
                if pace.schedule_ended:
                    annealed = True
                    extra["annealed_by_time"] = annealed_by_time(epoch, step, global_step)
                    break
                index = order[step * batch_size : (step + 1) * batch_size]
                index = index[processes.rank * local_size : (processes.rank + 1) * local_size]
                hard_targets = labels[index]
                batch_coins = coins[index] if coins is not None else None
                inputs = transform(
                    augment_batch(images[index], recipe.augment, generator, coins=batch_coins, epoch=epoch)
                )
                targets = hard_targets
                if mixing:
                    inputs, targets = mix_batch(
                        inputs,
                        hard_targets,
                        num_classes,
                        recipe.augment.mixup,
                        recipe.augment.cutmix,
                        generator,
                    )
                lr = limits.lr(pace)
                set_lr(optimizer, lr)
                with torch.autocast(device.type, dtype=dtype, enabled=reduced):
                    logits = step_model(inputs.contiguous(memory_format=execution.layout))
                loss = classification_loss(
                    logits, targets, recipe.optim.loss, recipe.optim.label_smoothing, recipe.optim.focal_gamma
                )
                # free on one CPU process (no device to sync with); distributed, ranks decide together per epoch
                if device.type == "cpu" and not processes.enabled and not torch.isfinite(loss):
                    stopped_reason = non_finite(epoch, step, loss.item())
                    break
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if record_gradients:
                    grad_norm_sum += torch.stack(
                        [p.grad.norm() if p.grad is not None else torch.zeros((), device=device) for p in kernels]
                    )
                scaler.step(optimizer)
                scaler.update()
                if lookahead is not None:
                    lookahead.after_step(model, global_step + 1, total_steps)
                if ema is not None:
                    ema.update(model)
                loss_sum += loss.detach() * len(index)
                correct += (logits.argmax(1) == hard_targets).sum()
                steps_done += 1
                progress.advance(task)
            if cut:  # the limit passed inside this epoch: back to the last finished one, which the records describe
                if finished is None:
                    stopped_reason = cut_in_first_epoch(limits.max_seconds or 0.0, steps_done, steps_per_epoch)
                else:
                    evaluated_model().load_state_dict(finished)
                    extra["stopped_by_time"] = epoch
                break
            if annealed and steps_done == 0:  # the schedule ended with the last epoch: that epoch is the last
                if history and history[-1].val_acc is None:
                    last_loss, last_acc, val_predictions = evaluate(
                        evaluated_model(), data.val, preprocess, dtype, recipe.eval_batch_size
                    )
                    history[-1] = replace(history[-1], val_loss=last_loss, val_acc=last_acc)
                break
            # an epoch the schedule ended by time averages over the steps it took; any other keeps the whole
            # epoch as its divisor, defined even when a non-finite loss stopped it at its first step
            seen = (steps_done if annealed else steps_per_epoch) * batch_size
            totals = distributed.sum_across(torch.stack([loss_sum, correct.to(loss_sum.dtype)]), processes)
            train_loss, train_correct = (float(x) / seen for x in totals.tolist())  # the one host sync of the epoch
            trained_images += seen
            epoch_train_seconds = clock() - epoch_start
            train_seconds += epoch_train_seconds
            if stopped_reason is None and not math.isfinite(train_loss):
                stopped_reason = non_finite(epoch)
            if stopped_reason is not None:
                break
            val_loss: float | None = None
            val_acc: float | None = None
            if should_validate(validate_every_epoch, epoch, recipe.epochs, annealed):
                val_loss, val_acc, val_predictions = evaluate(
                    evaluated_model(), data.val, preprocess, dtype, recipe.eval_batch_size
                )
            norms = tuple((grad_norm_sum / steps_per_epoch).tolist()) if record_gradients else None
            record = Epoch(epoch + 1, train_loss, train_correct, val_loss, val_acc, lr, clock() - epoch_start,
                           epoch_train_seconds, norms)  # fmt: skip
            history.append(record)
            progress.update(
                task,
                info=f"epoch {epoch + 1}/{recipe.epochs} loss {train_loss:.3f}"
                + ("" if val_acc is None else f" val_acc {val_acc:.3f}"),
            )
            if checkpoint_dir is not None and processes.leader:
                state = {
                    "optimizer": optimizer.state_dict(),
                    "ema": ema.state_dict() if ema is not None else {},
                    "lookahead": lookahead.state_dict() if lookahead is not None else {},
                    "scaler": scaler.state_dict(),
                    "execution": execution.record(),
                    "generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "history": [past.to_json() for past in history],  # plain data: torch.load reads it safely
                    "epoch": epoch + 1,
                    "seconds": limits.elapsed(),
                    "train_seconds": train_seconds_before + train_seconds,
                    "trained_images": images_before + trained_images,
                    "extra": extra,
                }
                save_checkpoint(checkpoint_dir, epoch + 1, model, state)
            for callback in callbacks:
                callback(epoch + 1, record)
            if max_seconds is not None:
                finished = {k: v.detach().clone() for k, v in evaluated_model().state_dict().items()}
            if annealed:
                break
            # every rank asks every epoch; a limit crossed in the last epoch cut nothing
            if distributed.any_across(limits.out_of_time(), processes, device) and epoch + 1 < recipe.epochs:
                extra["stopped_by_time"] = epoch + 1
                break
    seconds = limits.elapsed()
    train_seconds += train_seconds_before
    trained_images += images_before
    if cleaning is not None:
        extra["cleaning"] = cleaning.record()
    return FitResult(
        model=evaluated_model(),
        preprocess=preprocess,
        history=history,
        dtype=execution.dtype,
        device=str(device),
        seconds=seconds,
        train_seconds=train_seconds,
        images_per_second=trained_images / train_seconds if train_seconds > 0 else 0.0,
        stopped_reason=stopped_reason,
        extra=extra,
        execution=execution.record(),
        val_predictions=val_predictions,
    )
