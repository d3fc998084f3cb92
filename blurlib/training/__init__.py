"""Fitting the patch classifiers, one concept per module, in the order :func:`fit` uses them:

1. :mod:`~blurlib.training.config` — :class:`TrainConfig` (every knob of a run), the presets
   (``report``, ``report_as_run``, ``recommended``, ``quick``) and ``get_config``.
2. :mod:`~blurlib.training.split` — train / validation / test split **by photo**
   (``split_by_source``) and the patch arrays of each side (``patch_arrays``).
3. :mod:`~blurlib.training.pipeline` — seeded, resumable batches with flips/rotations:
   ``make_dataset`` (``tf.data``, or numpy batches on JAX/PyTorch), ``steps_per_epoch``.
4. :mod:`~blurlib.training.devices` — strategy (CPU, GPU, mirrored, multi-worker,
   ``PortableStrategy``), mixed precision, XLA, the machine's description.
5. :mod:`~blurlib.training.build` — the network and optimizer of a recipe, compiled for
   the devices, exported as float32.
6. :mod:`~blurlib.training.runs` — the run folder: ``split.json``, ``train_config.json``,
   ``log.csv`` (``read_log``, ``load_history``), summary.
7. :mod:`~blurlib.training.backup` — the resume state: one verified folder per finished
   epoch, safe against an interruption at any instant.
8. :mod:`~blurlib.training.callbacks` — checkpoints, resume state, log, stopping rules.
9. :mod:`~blurlib.training.fit` — ``fit``: the recipe, step by step.

:mod:`~blurlib.training.analysis` trains the blur-analysis nets (kind, direction, length;
Sun et al.'s 73 classes) on fresh labelled patches every epoch, with the same resume state.

Random draws come from the named streams of :mod:`blurlib.seeds`. TensorFlow and Keras are
imported lazily, inside the functions that need them.
"""
