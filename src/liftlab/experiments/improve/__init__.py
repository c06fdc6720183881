"""`liftlab improve`: the whole loop under a time budget, as a pipeline of phases (`pipeline.improve` keeps
their order). Each phase is a function of the context (`context.py`) and the earlier phases' typed results
(`phase_results.py`): the data check and diagnosis (`start.py`), the arms (`arms.py`), the transfer plan and
the fine-tune (`finetune_phase.py`), the search (`search.py`), the final runs (`final.py`), best/'s members
(`ensemble.py`) and the verdict (`lift.py`). The decisions they make are pure functions beside them
(`halving`, `search_effects`, `finetune_plan`, `probe_features`, `time_plan`, `budget`, `profile`, `crossval`).
"""

from liftlab.experiments.improve.context import ImproveSettings
from liftlab.experiments.improve.pipeline import improve

__all__ = ["ImproveSettings", "improve"]
