"""Why a model is stuck: findings from its curves, gradients, data and augmentations, the learning curve, the
learning-rate check, the data review, the advisor that turns findings into remedies, and the lab of scenarios
with known causes."""
