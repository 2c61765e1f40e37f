"""Stage 6, tagging your own audio (chapter 7): a checkpoint as a function from waveforms to class probabilities
(``predictor``), and tagging audio files with a run or an ensemble of runs (``tagging``, ``audiotag predict``)."""
