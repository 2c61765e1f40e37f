"""The DCASE 2018 Task 2 baseline: a 3-layer CNN on 0.25 s log-mel patches, clip score = mean of patch scores.

The challenge organisers' baseline (Fonseca et al. 2018, "General-purpose tagging of Freesound audio with
AudioSet labels: task description, dataset, and baseline", arXiv:1807.09902, baseline-system section; code
in ``DCASE-REPO/dcase2018_baseline``, folder ``task2/``). The report we reproduce quotes it in its section
3.2 (25 ms windows, 10 ms hop, ``(25, 64, 1)`` inputs, three convolution + pooling layers; MAP@3 0.704 on the
public leaderboard after 5 epochs).

Where each detail comes from
----------------------------
Paths are in ``DCASE-REPO/dcase2018_baseline`` (``task2/inputs.py`` is called ``input.py`` in older commits;
the content is the same). The arXiv paper describes the same system in prose; every number below was read
from the code.

Line numbers are those of commit ``fcb13a3`` (``task2/inputs.py``, ``task2/main.py``).

* **Waveform**: 44.1 kHz mono, samples in [-1, 1] as decoded, no normalisation
  (``inputs.py`` L15-27, ``clip_to_waveform``: ``tf_audio.decode_wav`` at L21).
* **STFT**: window ``int(round(44100 * 0.025)) = 1102`` samples, hop ``441``, FFT size 2048 (next power of
  two), periodic Hann window, magnitude; frames start at sample 0, no centring or padding, so a clip of
  ``N`` samples has ``1 + (N - 1102) // 441`` frames (``main.py`` L145-146 ``stft_window_seconds=0.025``,
  ``stft_hop_seconds=0.010``; ``inputs.py`` L35-43 in ``clip_to_log_mel_examples``: ``tf.abs`` of
  ``tf.contrib.signal.stft`` with its defaults ``window_fn=hann_window(periodic=True)``, ``pad_end=False``;
  README "Input features").
* **Mel**: 64 bands, 125-7500 Hz, TensorFlow's ``linear_to_mel_weight_matrix`` (HTK mel formula, triangles
  linear in mel, peak 1, not area-normalised, DC bin zeroed) applied to the *magnitude* spectrogram
  (``main.py`` L148-150 ``mel_bands``, ``mel_min_hz``, ``mel_max_hz``; ``inputs.py`` L46-53).
* **Log**: natural ``log(mel + 0.001)``, no decibels, no clipping (``inputs.py`` L54; ``main.py`` L152
  ``mel_log_offset``). A silent clip is ``ln(0.001) = -6.91`` everywhere.
* **Patches**: 25 frames (0.25 s), hop **12** frames: ``inputs.py`` computes
  ``int(round(100 * 0.125))`` and Python 3 rounds 12.5 half-to-even, to 12 (the README requires
  python >= 3.5.3; under Python 2 it would have been 13). Frames after the last whole patch are dropped and a
  clip needs >= 25 frames (``tf.contrib.signal.frame`` with its default ``pad_end=False``; the README says
  0.25 s was chosen to fit the shortest clips, ~0.3 s).
* **CNN**: conv 7x7, 100 -> max-pool 3x3/2 -> conv 5x5, 150 -> max-pool 3x3/2 -> conv 3x3, 200 -> max over
  time and frequency -> dense 41. Stride-1 convolutions with biases and ReLU, TensorFlow ``SAME`` padding
  everywhere, no BatchNorm, no dropout (``model.py``, ``define_cnn``; README "Architecture" table).
* **Initialisation**: weights truncated normal with std 1e-3, biases 0 (``main.py``
  ``weights_init_stddev``; ``model.py`` ``define_model``).
* **Training**: softmax classifier, cross-entropy per *patch*, each patch labelled with its clip's label,
  patches shuffled across clips, Adam (lr 1e-4, eps 1e-8), batches of 64 patches (``model.py``
  ``define_model``; ``inputs.py`` ``record_to_labeled_log_mel_examples``, ``train_input``; ``main.py``).
* **Clip prediction**: mean of the patches' *softmax probabilities*, then the top 3 classes
  (``inference.py``: ``np.average(predicted, axis=0)``; README "Clip Prediction").

Parameter count: ``7*7*1*100 + 100`` + ``5*5*100*150 + 150`` + ``3*3*150*200 + 200`` + ``200*41 + 41``
= 5,000 + 375,150 + 270,200 + 8,241 = **658,591** (the README's 658.1K counts weights without biases).

In our framework
----------------
The model receives a whole clip's log-mel ``(B, 1, 64, T)`` (mel bands on the height axis, frames on the
width axis; the baseline's TensorFlow tensors are ``(25, 64, 1)``, time first -- the kernels are square and
``SAME`` padding is computed per axis, so the transposition changes nothing but the weight layout). It cuts
the clip into ``K = 1 + (T - 25) // 12`` patches with ``unfold``, runs the CNN on all ``B*K`` patches as one
batch, and combines the ``K`` patch predictions:

* ``average="probabilities"`` (default, the baseline's inference): the returned logits are
  ``log(mean_k softmax(z_k))``. They are valid logits -- their softmax *is* the mean of the patch
  probabilities, so prediction code that applies ``softmax`` gets exactly the baseline's clip scores. A
  softmax cross-entropy on them is ``-log(mean_k p_k[y])``: a clip-level (multiple-instance) loss, which
  is *not* the baseline's training loss ``mean_k(-log p_k[y])`` (by Jensen it is smaller or equal: one
  confident patch is enough). To train exactly like the baseline, apply the loss to :meth:`patch_logits`
  (shape ``(B, K, 41)``, each patch with the clip's label).
* ``average="logits"``: the mean of the patch logits (a normalised geometric mean of the probabilities).

All clips in a batch must share ``T`` (crop or pad them to one length first). Weights are initialised as in
the baseline, which makes the initial logits nearly zero (uniform predictions).
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from audiotag.features.config import FeatureConfig
from audiotag.models.blocks import ConvReLU2d, GlobalMaxPool, ModelInputError, SamePadMaxPool2d

#: The baseline's feature extraction in our :class:`~audiotag.features.config.FeatureConfig` terms, faithful to
#: ``task2/inputs.py`` L35-54 (commit ``fcb13a3``) with the ``main.py`` L145-152 hparams:
#: ``win_length=1102``, ``hop_length=441``, ``n_fft=2048`` (L36-38), ``window="hann"`` (the default
#: ``window_fn`` of ``tf.contrib.signal.stft``, L39; TensorFlow's periodic Hann equals scipy's for this even
#: length), ``center=False`` (frames from sample 0, ``pad_end=False``: ``1 + (N - 1102) // 441`` frames),
#: ``magnitude=True`` (``tf.abs(stft)``, L39, multiplied by the mel matrix at L53), ``mel_scale="htk_tf"`` with 64
#: bands over 125-7500 Hz (``linear_to_mel_weight_matrix``, L46-51), ``log="log_offset"`` with offset 0.001
#: (``tf.log(mel + mel_log_offset)``, L54; so no dB floor: ``top_db=None``). The waveform is used as decoded
#: (``normalize="none"``, L15-27) and the raw log-mel patches go into the CNN (``standardize="none"``: after L54
#: the patches are only framed, L60-64, and ``model.py`` ``define_cnn`` only adds a channel axis with
#: ``tf.expand_dims`` before its first convolution). ``image_size=None``: native ``(1, 64, T)``.
BASELINE_FEATURES = FeatureConfig(
    kind="logmel",
    n_mels=64,
    n_fft=2048,
    win_length=1102,
    hop_length=441,
    window="hann",
    center=False,
    magnitude=True,
    mel_scale="htk_tf",
    fmin=125.0,
    fmax=7500.0,
    log="log_offset",
    log_offset=0.001,
    top_db=None,
    image_size=None,
    normalize="none",
    standardize="none",
)
#: Patch length and hop in frames (0.25 s and 0.125 s at a 10 ms hop; see the table for the hop of 12).
PATCH_FRAMES = 25
PATCH_HOP = 12
#: Standard deviation of the truncated-normal weight initialisation (``weights_init_stddev``).
INIT_STD = 1e-3
AVERAGE_MODES = ("probabilities", "logits")


class BaselineCNN(nn.Module):
    """DCASE 2018 Task 2 baseline CNN; input ``(B, 1, n_mels, T)`` clip log-mels, output ``(B, n_classes)`` logits.

    See the module docstring for the sources of every detail and for ``average``.
    """

    def __init__(self, n_classes: int = 41, n_mels: int = 64, patch_frames: int = PATCH_FRAMES,
                 patch_hop: int = PATCH_HOP, average: str = "probabilities", init_std: float = INIT_STD):
        super().__init__()
        if average not in AVERAGE_MODES:
            raise ValueError(f"unknown average {average!r}; choose one of {AVERAGE_MODES}")
        self.init_kwargs = {"n_classes": n_classes, "n_mels": n_mels, "patch_frames": patch_frames,
                            "patch_hop": patch_hop, "average": average, "init_std": init_std}
        self.n_mels = n_mels
        self.patch_frames = patch_frames
        self.patch_hop = patch_hop
        self.average = average
        self.cnn = nn.Sequential(OrderedDict(
            conv1=ConvReLU2d(1, 100, 7),
            pool1=SamePadMaxPool2d(3, stride=2),
            conv2=ConvReLU2d(100, 150, 5),
            pool2=SamePadMaxPool2d(3, stride=2),
            conv3=ConvReLU2d(150, 200, 3),
            pool=GlobalMaxPool(),
        ))
        self.classifier = nn.Linear(200, n_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=init_std, a=-2 * init_std, b=2 * init_std)
                nn.init.zeros_(m.bias)

    def n_patches(self, n_frames: int) -> int:
        """How many whole patches a clip of ``n_frames`` frames gives (0 if it is shorter than one patch)."""
        return 0 if n_frames < self.patch_frames else 1 + (n_frames - self.patch_frames) // self.patch_hop

    def patch_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every patch: ``(B, 1, n_mels, T) -> (B, K, n_classes)``."""
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != self.n_mels:
            raise ModelInputError("baseline", x.shape,
                                  f"expected clip log-mels (B, 1, {self.n_mels}, T)")
        if x.shape[-1] < self.patch_frames:
            raise ModelInputError("baseline", x.shape,
                                  f"a clip needs at least {self.patch_frames} frames (one patch); got {x.shape[-1]}")
        batch = x.shape[0]
        patches = x.unfold(-1, self.patch_frames, self.patch_hop)          # (B, 1, M, K, P)
        n_patches = patches.shape[3]
        patches = patches.permute(0, 3, 1, 2, 4).reshape(batch * n_patches, 1, self.n_mels, self.patch_frames)
        return self.classifier(self.cnn(patches)).view(batch, n_patches, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.patch_logits(x).float()      # combine in float32, also under bf16 autocast
        if self.average == "logits":
            return z.mean(dim=1)
        # log of the mean probability, computed stably: logsumexp_k log_softmax(z_k) - log K
        return torch.logsumexp(F.log_softmax(z, dim=-1), dim=1) - math.log(z.shape[1])
