"""Evaluation through a frozen copy: same predictions as eager mode, used only where it pays and can be built."""

from __future__ import annotations

import torch
from torch import nn

from liftlab.config import Recipe
from liftlab.models import build_model
from liftlab.train.frozen import FREEZE_WORTH_S, MeasuredForward, frozen_copy, frozen_forward_seconds
from liftlab.train.inference import Preprocess, predict_logits


def _network() -> nn.Module:
    torch.manual_seed(0)
    recipe = Recipe.model_validate({"data": {"size": 32}, "model": {"width": 16}})
    model = build_model(recipe.model, 3, 5)
    # batch-norm statistics away from their defaults, so that folding them into the convolutions matters
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(32, 3, 32, 32) * 3)
    return model.eval()


class _Branching(nn.Module):
    """A network with data-dependent control flow: a trace would record one branch only."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        flat = inputs.flatten(1)[:, :4]
        return self.linear(flat) if bool(flat.sum() > 0) else -self.linear(flat)


def test_a_long_evaluation_runs_through_the_frozen_copy_with_the_eager_predictions() -> None:
    model = _network()
    images = (torch.rand(600, 3, 32, 32) * 255).to(torch.uint8)
    preprocess = Preprocess.fit(images, Recipe.model_validate({"data": {"size": 32}}))
    with torch.no_grad():
        expected = model(preprocess.on(torch.device("cpu"))(images.float() / 255.0))
    forward = MeasuredForward(model, calls=10_000)  # as if the pass were long: the copy is built and timed
    batch = preprocess.on(torch.device("cpu"))(images[:64].float() / 255.0)
    with torch.no_grad():
        outputs = [forward(batch) for _ in range(6)]
    assert forward.frozen is not None and set(forward.seconds) == {"eager", "frozen"}
    for output in outputs:
        assert torch.allclose(output, expected[:64], atol=1e-4)
    # the whole public path: log-probabilities equal to the eager ones, whichever way each batch ran
    log_probs = predict_logits(model, images, preprocess, torch.float32, batch_size=8)
    assert torch.equal(log_probs.argmax(1), expected.argmax(1))
    assert torch.allclose(log_probs, torch.log_softmax(expected, 1), atol=1e-4)


def test_a_short_evaluation_stays_eager_and_a_network_that_cannot_be_frozen_falls_back() -> None:
    model = _network()
    batch = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        short = MeasuredForward(model, calls=3)
        for _ in range(3):
            short(batch)
    assert short.frozen is None and not short.frozen_used
    assert short.seconds["eager"] * 1 < FREEZE_WORTH_S  # what made it stay eager
    branching = _Branching()
    example = torch.rand(3, 4)
    with torch.no_grad():
        # traced on a negative batch, a copy would answer a positive one with the other branch's sign, and the
        # check against the network's output on the tracing batch cannot see that: the tracer's warning can
        assert frozen_copy(branching, -example, branching(-example)) is None
        # a copy whose output differs from the reference is refused
        assert frozen_copy(model, batch, model(batch) + 1.0) is None
        # bf16 inputs and GPU tensors are never frozen
        assert frozen_copy(model, batch.bfloat16(), model(batch).bfloat16()) is None
    assert frozen_forward_seconds(model, batch) is not None
