"""A linear probe (or small MLP head) trained on cached features of a frozen backbone.

`finetune=linear` on a registered backbone changes only the classifier, and the backbone's batch-norm
statistics stay frozen, so every training step would push the same images through the same frozen network.
Here each training image goes through it once per view (the image, and its mirror when flips are on), the
pooled features are cached by content (`train/features.py`), and the head trains on them in seconds. The
result is the same model the step loop would train: the full network with the trained head, saved and
evaluated like any other run (test accuracy is measured on the images, not on the features).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F

from liftlab.augment import flip_coins
from liftlab.config import AugmentConfig, Recipe
from liftlab.data.loading import ImageData
from liftlab.models import build_model
from liftlab.models.backbones import is_registered
from liftlab.models.pretrained import classifier_of
from liftlab.progress import make_progress
from liftlab.records import Epoch
from liftlab.train import distributed
from liftlab.train.embedding import Embedder
from liftlab.train.fitted import EpochCallback, FitResult, resolve_device, steps_in_epoch
from liftlab.train.inference import Preprocess, tta_view_count, tta_views
from liftlab.train.losses import classification_loss
from liftlab.train.optimizer import ParamGroup, make_optimizer, parameter_groups, torch_rates
from liftlab.train.time_limits import TimeLimits, annealed_by_time, non_finite, set_lr, should_validate

TTA_WEIGHTS = tuple(weight for _, weight in tta_views(torch.zeros(1, 1, 32, 32)))  # view by view, as in inference


def on_features(recipe: Recipe) -> bool:
    """Whether `fit` trains this recipe on cached features: a linear probe of a registered backbone whose
    training sees nothing the cached views cannot show (flips are the mirror view; crops, colour changes,
    mixing, weight averaging and the LR finder need the step loop), in one process."""
    plain = recipe.augment.model_copy(update={"flip": False, "alternating_flip": False}) == AugmentConfig()
    return (
        bool(recipe.model.pretrained)
        and is_registered(str(recipe.model.pretrained))
        and recipe.model.finetune == "linear"
        and plain
        and not recipe.optim.lr_find
        and not recipe.optim.lookahead
        and recipe.optim.ema == 0
        and not distributed.current().enabled
    )


def fit_on_features(
    recipe: Recipe,
    data: ImageData,
    *,
    quiet: bool = True,
    callbacks: Sequence[EpochCallback] = (),
    max_seconds: float | None = None,
    record_gradients: bool = False,
    validate_every_epoch: bool = True,
    anneal_within: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> FitResult:
    """`fit` for recipes where `on_features(recipe)`: same arguments, same result, same history records. The
    time limits (`max_seconds`, `anneal_within`) count the head's training only: the forward passes are a
    one-off cost per backbone and image that every later run of the same backbone finds cached."""
    wall_start = time.perf_counter()
    device = resolve_device(recipe.device)
    torch.manual_seed(recipe.seed)
    num_classes = len(data.classes)
    model = build_model(recipe.model, data.channels, num_classes).to(device)
    preprocess = Preprocess.fit(data.train.images, recipe)
    embedder = Embedder.of(model, recipe, preprocess, device)
    cost, execution, size = embedder.cost, embedder.execution, recipe.data.size
    train_views = 2 if recipe.augment.flip else 1
    val_views = tta_view_count(recipe.tta)
    train_x = embedder(data.train.images, train_views, quiet=quiet, label="features train")
    val_x = embedder(data.val.images, val_views, quiet=quiet, label="features val")
    train_x, val_x = train_x.to(device), val_x.to(device)
    labels = data.train.labels.to(device)
    val_labels = data.val.labels.to(device)

    head = classifier_of(embedder.backbone)
    head.train()
    generator = torch.Generator(device=device).manual_seed(recipe.seed)
    n_train = len(labels)
    batch_size = min(recipe.optim.batch_size, n_train)
    steps_per_epoch = steps_in_epoch(n_train, recipe.optim.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    base_lr, weight_decay = torch_rates(recipe.optim, batch_size, recipe.optim.lr)
    params = list(head.parameters())
    groups = [
        ParamGroup(params=[p for p in params if p.ndim > 1], weight_decay=weight_decay, lr_scale=1.0),
        ParamGroup(params=[p for p in params if p.ndim <= 1], weight_decay=0.0, lr_scale=1.0),
    ]
    optimizer = make_optimizer(parameter_groups(groups, head, recipe.optim, weight_decay), recipe.optim, base_lr)
    # model.dropout drops the linear head's input features in training (the MLP head has its own dropout layer)
    dropout = recipe.model.dropout if recipe.model.head == "linear" else 0.0
    coins = flip_coins(n_train, recipe.seed).to(device) if recipe.augment.alternating_flip else None

    def log_probs_of(features: torch.Tensor) -> torch.Tensor:
        """The head's log-probabilities averaged over the views, weighted as `predict_logits` weighs them."""
        head.eval()
        with torch.no_grad():
            probabilities = sum(
                weight * F.softmax(head(features[view]).float(), dim=1)
                for view, weight in enumerate(TTA_WEIGHTS[:val_views])
            )
            log_probs = torch.log(torch.as_tensor(probabilities) / sum(TTA_WEIGHTS[:val_views]))
        head.train()
        return log_probs

    val_predictions: list[int] = []

    def val_scores() -> tuple[float, float]:
        log_probs = log_probs_of(val_x)
        loss = F.nll_loss(log_probs.clamp_min(-100.0), val_labels).item()
        predicted = log_probs.argmax(1)
        val_predictions[:] = predicted.tolist()
        return float(loss), float((predicted == val_labels).float().mean().item())

    kernels = [p for p in params if p.ndim > 1]
    history: list[Epoch] = []
    extra: dict[str, Any] = {"features": {"backbone": recipe.model.pretrained, "size": size, "views": train_views,
                                          "computed": 0, "reused": 0, "seconds": 0.0}}  # fmt: skip
    stopped_reason: str | None = None
    train_seconds = 0.0
    lr = base_lr
    # `max_seconds` is asked after each epoch only: a head's epoch takes milliseconds
    limits = TimeLimits(total_steps=total_steps, steps_per_epoch=steps_per_epoch, base_lr=base_lr,
                        schedule=recipe.schedule, max_seconds=max_seconds, anneal_within=anneal_within,
                        clock=clock)  # fmt: skip
    with make_progress(quiet) as progress:
        task = progress.add_task("train head", total=total_steps, info="")
        for epoch in range(recipe.epochs):
            epoch_start = clock()
            steps_done, annealed = 0, False
            order = torch.randperm(n_train, generator=generator, device=device)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.int64)
            grad_norm_sum = torch.zeros(len(kernels), device=device)
            for step in range(steps_per_epoch):
                index = order[step * batch_size : (step + 1) * batch_size]
                if train_views == 1:
                    view = torch.zeros(len(index), dtype=torch.int64, device=device)
                elif coins is not None:
                    view = (coins[index] ^ bool(epoch % 2)).long()
                else:
                    view = torch.randint(0, 2, (len(index),), generator=generator, device=device)
                inputs = F.dropout(train_x[view, index], dropout, training=True) if dropout else train_x[view, index]
                targets = labels[index]
                global_step = epoch * steps_per_epoch + step
                pace = limits.pace(global_step)
                if pace.schedule_ended:  # the schedule ended by time (`fit`'s anneal_within): this epoch is the last
                    annealed = True
                    extra["annealed_by_time"] = annealed_by_time(epoch, step, global_step)
                    break
                lr = limits.lr(pace)
                set_lr(optimizer, lr)
                logits = head(inputs)
                loss = classification_loss(
                    logits, targets, recipe.optim.loss, recipe.optim.label_smoothing, recipe.optim.focal_gamma
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if record_gradients:
                    grad_norm_sum += torch.stack([p.grad.norm() for p in kernels if p.grad is not None])
                optimizer.step()
                loss_sum += loss.detach() * len(index)
                correct += (logits.argmax(1) == targets).sum()
                steps_done += 1
                progress.advance(task)
            if annealed and steps_done == 0:  # the schedule ended with the last epoch: that epoch is the last
                if history and history[-1].val_acc is None:
                    last_loss, last_acc = val_scores()
                    history[-1] = replace(history[-1], val_loss=last_loss, val_acc=last_acc)
                break
            seen = (steps_done if annealed else steps_per_epoch) * batch_size
            train_loss, train_acc = float(loss_sum) / seen, float(correct) / seen
            epoch_train_seconds = clock() - epoch_start
            if epoch == 0:  # the forward passes over the data are the first epoch's cost
                epoch_train_seconds += cost.seconds
            train_seconds += epoch_train_seconds
            if not math.isfinite(train_loss):
                stopped_reason = non_finite(epoch)
                break
            validate = should_validate(validate_every_epoch, epoch, recipe.epochs, annealed)
            val_loss, val_acc = val_scores() if validate else (None, None)
            norms = tuple((grad_norm_sum / steps_per_epoch).tolist()) if record_gradients else None
            seconds = clock() - epoch_start + (cost.seconds if epoch == 0 else 0.0)
            record = Epoch(epoch + 1, train_loss, train_acc, val_loss, val_acc, lr, seconds, epoch_train_seconds, norms)
            history.append(record)
            progress.update(task, info=f"epoch {epoch + 1}/{recipe.epochs} loss {train_loss:.3f}")
            for callback in callbacks:
                callback(epoch + 1, record)
            if annealed:
                break
            if limits.out_of_time() and epoch + 1 < recipe.epochs:  # a limit crossed in the last epoch cut nothing
                extra["stopped_by_time"] = epoch + 1
                break
    test_log_probs = None
    if data.test is not None and len(data.test) and stopped_reason is None:
        # the test split off cached features too: every probe of this backbone and size (a search's arms, the
        # seeds of the final runs) scores it without a forward pass, and equal to the network on the images
        test_x = embedder(data.test.images, val_views, quiet=quiet, label="features test")
        test_log_probs = log_probs_of(test_x.to(device)).cpu()
    extra["features"] |= {"computed": cost.computed, "reused": cost.reused, "seconds": round(cost.seconds, 3)}
    return FitResult(
        model=model,
        preprocess=preprocess,
        history=history,
        dtype=execution.dtype,
        device=str(device),
        seconds=time.perf_counter() - wall_start,
        train_seconds=train_seconds,
        images_per_second=n_train * len(history) / train_seconds if train_seconds > 0 else 0.0,
        stopped_reason=stopped_reason,
        extra=extra,
        execution=execution.record() | {"path": "features"},
        test_log_probs=test_log_probs,
        val_predictions=val_predictions,
    )
