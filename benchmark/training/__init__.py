"""One trainer for every method, in three concepts and their execution.

- :mod:`~benchmark.training.recipes`: named hyper-parameter sets and :func:`plan_training`
  (method + recipe + overrides -> a :class:`TrainPlan` and its checkpoint name); no torch.
- :mod:`~benchmark.training.optim`: parameter groups, optimiser, lr schedule, clipping,
  initialisation and losses.
- :mod:`~benchmark.training.loop`: the patch sampler, validation, checkpoints and exact
  resume, and :func:`train` / :func:`find_or_train`.
- :mod:`~benchmark.training.execution`: bf16, channels_last, torch.compile and CPU threads.

:mod:`benchmark.trainer` re-exports the public names of all four; import from there.
"""
