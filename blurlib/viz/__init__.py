"""Pictures: the report's figures, patch predictions, blur-map overlays, training curves,
a confusion matrix, ROC / precision-recall curves and kernel galleries.

Import each name from its module (this package re-exports nothing):

* :mod:`blurlib.viz.style` — backend choice, fixed sizes, palette, ``styled``,
  ``new_figure``, ``figures_dir`` and ``save_fig``.
* :mod:`blurlib.viz.drawing` — shared drawing helpers: photos in pixel coordinates,
  patch grids, cell tints and outlines.
* :mod:`blurlib.viz.report_figures` — the blur process, the patch grid, the labelled image,
  kernel galleries.
* :mod:`blurlib.viz.maps` — P(blurred) per patch with right/wrong outcomes,
  ``overlay_blur_map`` and ``plot_blur_map``.
* :mod:`blurlib.viz.curves` — training curves, a confusion matrix, ROC / PR curves.
* :mod:`blurlib.viz.summary` — accuracy by method and protocol as one bar chart.
* :mod:`blurlib.viz.kinds` — blur kind overlay, motion arrows, polar direction histogram.
* :mod:`blurlib.viz.html_report` — the ``rank`` command's self-contained HTML report.

TensorFlow is never imported here.
"""
