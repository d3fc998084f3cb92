"""Inference on whole photos, one concept per module:

- :mod:`blurlib.inference.windows` — the classifier's fully-convolutional form (cached per
  model), patch probabilities on the grid, dense window probabilities at any stride
  (exact, tiled), the window grid;
- :mod:`blurlib.inference.maps` — blur maps: window probabilities interpolated to every
  pixel, for one photo or many;
- :mod:`blurlib.inference.photos` — texture (which windows carry evidence), one photo's
  analysis (:class:`~blurlib.inference.photos.PhotoResult`) and its output files;
- :mod:`blurlib.inference.analysis` — blur kind, motion direction and length per patch and
  dense, for models with those heads; :mod:`blurlib.inference.context` — the same for a net
  that reads context around each patch (its two trunks' dense forms, or cropped windows);
  :mod:`blurlib.inference.neighbours` — the same for the neighbour net (its trunk once per
  cell, then a 3×3 head over the cells); :mod:`blurlib.inference.views` — test-time views:
  answers averaged over rotated and mirrored copies of the photo (``views=4``);
- :mod:`blurlib.inference.bf16` — a bfloat16 twin of the fully-convolutional net, for CPUs
  that compute it natively; :mod:`blurlib.inference.int8` — the same net quantised to 8-bit
  integers and run by ONNX Runtime (``rank --precision int8``);
- ranking a folder: :mod:`blurlib.inference.rank` (``rank_photos``),
  :mod:`blurlib.inference.rank_prep` (decoding ahead of the network, previews),
  :mod:`blurlib.inference.rank_cache` (analyses kept between runs),
  :mod:`blurlib.inference.bursts` (near-duplicates and their keeper),
  :mod:`blurlib.inference.cull` (copy / move with a journal, undo).

The stable import paths for users are in :mod:`blurlib.predict`; code inside blurlib
imports from the modules above.
"""
