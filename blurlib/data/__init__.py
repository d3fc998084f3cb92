"""The data side of blurlib: from photo files to labelled, partially blurred training sets.

Modules, in data-flow order (each imports only from those above it):

* :mod:`~blurlib.data.images` — decoding any image file (or a byte range of a tar) into RGB
  ``uint8``; :class:`~blurlib.data.images.PhotoRef`, one photo of some source;
* :mod:`~blurlib.data.draft` — JPEGs decoded straight at reduced size (DCT scaling), for
  ranking camera files fast;
* :mod:`~blurlib.data.samples` — the sample photos bundled with scikit-image;
* :mod:`~blurlib.data.voc` — Pascal VOC2010 trainval, from its folder or its tar;
* :mod:`~blurlib.data.download` — downloading the VOC2010 tar (resumable, checksummed);
* :mod:`~blurlib.data.qt_resources` — photos inside Qt resource bundles (GCompris' ``.rcc``
  files), copied once into a cache folder;
* :mod:`~blurlib.data.photos` — every photo source behind one entry point, ``photo_refs``:
  samples, VOC2010, folders and ``.txt`` photo lists; loading and shrinking photos;
* :mod:`~blurlib.data.deadleaves`, :mod:`~blurlib.data.leaf_looks` — dead-leaves scenes, sharp
  by construction, and the colours and textures of their leaves;
* :mod:`~blurlib.data.degrade` — what label 0 covers: lens softness, defocus, resampling,
  haze, sensor noise, JPEG (the realistic mix, every step a seeded spec);
* :mod:`~blurlib.data.kernels` — motion blur kernels: straight, camera shake, random, specs;
* :mod:`~blurlib.data.convolve` — applying a kernel to an image (a true convolution);
* :mod:`~blurlib.data.patches` — the patch grid, and per-patch texture and content measures;
* :mod:`~blurlib.data.dataset` — the partially blurred training set: generating, loading;
* :mod:`~blurlib.data.kinds` — labelled patches for blur kind (sharp / motion / defocus),
  motion direction and length, and Sun et al.'s 73 classes;
* :mod:`~blurlib.data.kind_stream` — the same patches drawn on worker processes, ahead of
  the trainer;
* :mod:`~blurlib.data.kind_grids` — the same crops whole, with a label grid, for the net that
  reads each patch's neighbours.

Import each name from the module that defines it; this package re-exports nothing. The old
flat paths (``blurlib.sources``, ``blurlib.kernels``, ``blurlib.patches``,
``blurlib.dataset``) keep working for users.
"""
