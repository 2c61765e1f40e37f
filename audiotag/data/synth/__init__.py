"""The embedded default dataset: a small, offline, procedurally generated stand-in for FSDKaggle2018.

``audiotag data synth --dest DIR`` (or :func:`generate_corpus`) writes 41 classes of synthetic sounds in
FSDKaggle2018's Kaggle layout and CSV schema, so every notebook and command runs unchanged on it and on the
real data. It is small enough to train the book's CNNs on a laptop CPU in minutes, and built to be neither
trivial nor hopeless: varied sound recipes, rooms, noise, unbalanced classes and noisy labels.

The package reads top-down:

* :mod:`.dsp`: signal building blocks (noise, filters, envelopes, additive / modal / Karplus-Strong synthesis);
* :mod:`.sounds`: one procedural sound model per class (:data:`SOUND_MODELS`);
* :mod:`.scene`: microphone, room reverberation, background noise and level (:class:`SceneConfig`);
* :mod:`.corpus`: the corpus plan (counts, label noise, leaderboard usage), parallel rendering, the CSVs.
"""
from audiotag.data.synth.corpus import (CorpusConfig, ClipSpec, SynthError, SYNTH_VERSION, generate_corpus,
                                        plan_corpus, read_info, render_clip)
from audiotag.data.synth.scene import SceneConfig, apply_scene
from audiotag.data.synth.sounds import SOUND_MODELS, SoundModel

__all__ = ["generate_corpus", "CorpusConfig", "SceneConfig", "ClipSpec", "SynthError", "SYNTH_VERSION",
           "SOUND_MODELS", "SoundModel", "plan_corpus", "render_clip", "apply_scene", "read_info"]
