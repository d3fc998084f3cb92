"""Honest numbers: metrics, classical blur baselines, the evaluation runner and the suite.

Everything here is numpy + OpenCV; TensorFlow is imported only when a CNN's predictions are
needed, so baselines-only evaluation and all metrics work without it. Import each name from
its module:

* :mod:`blurlib.evaluation.metrics` — confusion matrix, ROC / precision-recall curves,
  ROC AUC, average precision, :func:`~blurlib.evaluation.metrics.binary_metrics`.
* :mod:`blurlib.evaluation.examples` — Example-like objects read and checked; the blur
  protocols and :func:`~blurlib.evaluation.examples.make_protocol_examples`.
* :mod:`blurlib.evaluation.baselines` — Laplacian variance, Tenengrad, FFT energy,
  fitted thresholds, :class:`~blurlib.evaluation.baselines.Baseline`, ``fit_baseline(s)``.
* :mod:`blurlib.evaluation.runner` — :func:`~blurlib.evaluation.runner.evaluate`,
  :class:`~blurlib.evaluation.runner.EvaluationResult`, ``results_table``.
* :mod:`blurlib.evaluation.suite` — whole-photo rates, ``run_suite``, ``suite_markdown``.
* :mod:`blurlib.evaluation.robustness` — every protocol over quality variants of the test
  photos, false alarms, defocus-only photos.
* :mod:`blurlib.evaluation.kinds` — blur kind confusion, angle and length errors.

The texture and content measures (``textured_mask``, ``content_mask``, ...) live with the
patches, in :mod:`blurlib.data.patches`.
"""
