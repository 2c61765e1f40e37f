"""Stage 4, training (chapters 3 and 4, the two networks): the recipe and its named profiles (``config``,
``profiles``), the device, precision and determinism (``devices``), whole clips on the device (``bank``) and the
per-batch input (``pipeline``), the fold split (``folds``), the paper's learning-rate schedule (``schedule``),
MAP@3 (``metrics``), scoring a bank's clips (``validation``), the fold loop (``trainer``) and its folds as parallel
jobs on several GPUs or a SLURM cluster (``jobs``), and what a run leaves on disk: run directories (``runs``),
self-describing checkpoints (``checkpoint``), out-of-fold and test probability tables (``prediction_sets``)."""
