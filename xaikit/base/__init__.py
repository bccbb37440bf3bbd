"""The TensorFlow-free floor of xaikit: checks and the message table, atomic writes, fast mode,
cache folders, zoo names, resizing and the vocabulary of methods and metrics.

Every layer of the kit (``viz``, ``data``, ``models``, ``core``, the grader's parent process, the
command line's fast paths) shares one copy of each utility from here.  Nothing in this package
imports TensorFlow or Keras; ``tests/test_layering.py`` imports it in a process where importing
TensorFlow raises.

The modules:

- :mod:`xaikit.base.messages`: ``MESSAGES`` (the one message table) and ``message(key, **fields)``.
- :mod:`xaikit.base.checks`: argument checks (``check_int``, ``check_number``, ``check_array``,
    ``check_option``, ``check_images``, ``check_maps``, ``check_masks``), ``rng``, ``warn``.
- :mod:`xaikit.base.io`: ``atomic_write``, ``atomic_write_json``, ``atomic_path`` (for writers
    that need a file name).
- :mod:`xaikit.base.env`: ``fast_mode`` — the only reader of ``XAIKIT_FAST``.
- :mod:`xaikit.base.paths`: ``cache_dir``, ``weights_dir``.
- :mod:`xaikit.base.names`: ``ZOO_NAMES``.
- :mod:`xaikit.base.resize`: ``bilinear_matrix``, ``resize_bilinear``.
- :mod:`xaikit.base.vocabulary`: ``BATCH_SIZE``, ``ON``, ``BASELINES`` — the option names and
    defaults every method and metric shares.
"""
