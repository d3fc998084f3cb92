"""The patch classifiers (the networks), one concept per module:

- :mod:`blurlib.nets.builders` — the two architectures ("report", "compact"), compile
  settings, and P(blurred) from a model's output;
- :mod:`blurlib.nets.flops` — parameter and FLOP counts, the one-line summary;
- :mod:`blurlib.nets.files` — save, check and load model files; the shipped default model
  ``default.keras``, package data of this subpackage;
- :mod:`blurlib.nets.fully_conv` — the exact fully-convolutional form of a classifier;
- :mod:`blurlib.nets.analysis` — the blur-analysis nets: the multi-head net (kind,
  direction, length; ``analysis.keras`` is shipped) and ``sun2015`` (73 motion classes);
- :mod:`blurlib.nets.neighbours` — the neighbour net: the multi-head net reading each patch's
  eight neighbours' trunk features too (a 3×3 layer over the patch grid), and its grid view.

The stable import paths for users are in :mod:`blurlib.model`; code inside blurlib imports
from the modules above.
"""
