"""Inference on whole photos, one concept per module:

- :mod:`blurlib.inference.windows` — the classifier's fully-convolutional form (cached per
  model), patch probabilities on the grid, dense window probabilities at any stride
  (exact, tiled), the window grid;
- :mod:`blurlib.inference.maps` — blur maps: window probabilities interpolated to every
  pixel, for one photo or many;
- :mod:`blurlib.inference.photos` — texture (which windows carry evidence), one photo's
  analysis (:class:`~blurlib.inference.photos.PhotoResult`) and its output files.

The stable import paths for users are in :mod:`blurlib.predict`; code inside blurlib
imports from the modules above.
"""
