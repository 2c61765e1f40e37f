"""Interactive explorers for the book (ipywidgets): features, augmentation and predictions.

Each explorer is a small class that owns its controls (``ipywidgets`` objects, public attributes), recomputes
its view whenever a control's ``value`` changes, and keeps what it shows as plain data:

* :class:`FeatureExplorer` - pick a class, a clip, a feature kind, window, hop and mel bands; see the waveform, the
  feature image (``.feature``, the array drawn) and hear the clip;
* :class:`AugmentationExplorer` - two clips and a mixup weight, random-erasing settings; see and hear the mix
  (``.mixed_wave`` is ``lam * a + (1 - lam) * b``) and the erased feature (``.erased``);
* :class:`PredictionExplorer` - pick a test clip; see its top tags with probabilities and whether they are right
  (``.top``).

The current view is also a matplotlib figure (``.figure``), drawn by :mod:`audiotag.book.plots` and shown in the
widget as a PNG, so the notebook can print the same view as a static figure (the HTML book shows that one: widgets
need a live kernel). Displaying an explorer shows its ``.widget``; tests drive them headless by setting
``.value`` on the controls.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from audiotag.book import plots
from audiotag.book.explorer_page import load_defaults
from audiotag.book.explorer_page import wav_bytes as pcm16_wav
from audiotag.data.audio import center_crop, load_audio, resample
from audiotag.features.augment import RandomErasing, mix_pair
from audiotag.features.config import FeatureConfig
from audiotag.features.spectral import compute_features
from audiotag.data.labels import SAMPLE_RATE

#: The explorers' defaults, shared with the in-page JavaScript explorers (``book/static/explorers/defaults.json``).
DEFAULTS = load_defaults()
_F, _A = DEFAULTS["feature"], DEFAULTS["augment"]
#: Rate and maximum length of the audio players: enough to hear the sound, small enough to keep notebooks light.
PLAYER_RATE = 16000
PLAYER_SECONDS = _F["max_seconds"]
#: The feature kinds the explorers offer (the paper's four 2D features).
EXPLORER_KINDS = tuple(_F["kinds"])
#: Window (FFT) sizes, hops, mel-band / MFCC counts and dB ranges offered by :class:`FeatureExplorer`.
WINDOW_CHOICES = tuple(_F["window_choices"])
HOP_CHOICES = tuple(_F["hop_choices"])
MEL_RANGE = tuple(_F["n_mels_range"])
MFCC_RANGE = tuple(_F["n_mfcc_range"])
TOP_DB_RANGE = tuple(_F["top_db_range"])
#: Shown in the static book where a live feature or augmentation widget would be: chapter 2's in-page (JavaScript)
#: explorers stand next to it.
STATIC_NOTE = ("<p><em>Live Python explorer: run this notebook in JupyterLab (<code>make lab</code>) to use it. "
               "In this page, use the in-page explorer nearby (it computes the same features in your browser); "
               "the figure below shows the Python view.</em></p>")
#: Shown in the static book where a widget without an in-page counterpart would be (the prediction explorer).
KERNEL_NOTE = ("<p><em>Live Python explorer: it needs a running kernel, so it works in JupyterLab "
               "(<code>make lab</code>) and not in this page; the figure below shows its view.</em></p>")


def wav_bytes(wave: np.ndarray, sample_rate: int, player_rate: int = PLAYER_RATE,
              max_seconds: float = PLAYER_SECONDS) -> bytes:
    """A WAV file in memory for an audio player: the first ``max_seconds``, resampled to ``player_rate``, 16 bit
    (written as the in-page explorers' clips are, :func:`audiotag.book.explorer_page.wav_bytes`)."""
    wave = np.asarray(wave, dtype=np.float32)[: int(max_seconds * sample_rate)]
    return pcm16_wav(resample(wave, sample_rate, player_rate), player_rate)


def _clip_table(clips: pd.DataFrame) -> pd.DataFrame:
    """Rows with ``fname``, ``label`` and ``path`` (a dataset's train or test table), labelled clips only."""
    missing = {"fname", "label", "path"} - set(clips.columns)
    if missing:
        raise ValueError(f"clip table lacks column(s) {sorted(missing)}; pass a dataset's train or test table")
    known = clips["label"].notna() & (clips["label"].astype(str) != "None")
    table = clips[known].reset_index(drop=True)
    if table.empty:
        raise ValueError("the clip table has no labelled clips")
    return table


class _Explorer:
    """Shared display plumbing: ``widget`` is the root ipywidget; displaying the explorer displays it."""

    widget = None
    figure = None
    #: What the static page shows in the widget's place.
    static_note = STATIC_NOTE

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"{type(self).__name__} (interactive: run the notebook in Jupyter)"
        bundle["text/html"] = self.static_note
        return bundle

    def _show(self, image, fig) -> None:
        self.figure = fig
        image.value = plots.figure_png(fig)


# --------------------------------------------------------------------------------------------------- features
class FeatureExplorer(_Explorer):
    """Pick a class and clip, a feature kind, window, hop and mel bands; see the waveform and the feature, hear
    the clip.

    Defaults and control ranges come from :data:`DEFAULTS` (the in-page explorers use the same file).
    ``clips``: a dataset's ``train`` (or ``test``) table. The feature is computed as the book's pipeline computes
    it, before standardisation and resizing (dB values, native shape ``(C, F, T)``): ``.feature``; the clip,
    loaded at ``sample_rate`` and cut to its first ``max_seconds``, is ``.waveform``. The window control sets the
    FFT size of every kind but the multi-resolution one (which has its own three windows), the spectrogram's too
    (so it has ``1 + window // 2`` bins here; the book's network input uses 1024, i.e. 513 bins).
    """

    def __init__(self, clips: pd.DataFrame, sample_rate: int = SAMPLE_RATE, max_seconds: float = _F["max_seconds"],
                 kind: str = _F["kind"], n_fft: int = _F["n_fft"], hop_length: int = _F["hop_length"],
                 n_mels: int = _F["n_mels"], n_mfcc: int = _F["n_mfcc"], top_db: float = _F["top_db"]):
        import ipywidgets as w

        self.clips = _clip_table(clips)
        self.sample_rate = sample_rate
        self.max_seconds = max_seconds
        self._cache: dict[str, np.ndarray] = {}
        labels = sorted(self.clips["label"].unique())
        self.label = w.Dropdown(options=labels, value=labels[0], description="class")
        self.clip = w.Dropdown(options=self._clip_options(labels[0]), description="clip")
        self.kind = w.Dropdown(options=EXPLORER_KINDS, value=kind, description="feature")
        self.n_fft = w.Dropdown(options=WINDOW_CHOICES, value=n_fft, description="window")
        self.hop_length = w.Dropdown(options=HOP_CHOICES, value=hop_length, description="hop")
        lo, hi, step = MEL_RANGE
        self.n_mels = w.IntSlider(value=n_mels, min=lo, max=hi, step=step, description="mel bands",
                                  continuous_update=False)
        lo, hi, step = MFCC_RANGE
        self.n_mfcc = w.IntSlider(value=n_mfcc, min=lo, max=hi, step=step, description="MFCCs",
                                  continuous_update=False)
        lo, hi, step = TOP_DB_RANGE
        self.top_db = w.IntSlider(value=int(top_db), min=lo, max=hi, step=step, description="dB range",
                                  continuous_update=False)
        self.image = w.Image(format="png")
        self.player = w.Audio(format="wav", autoplay=False, loop=False)
        self.info = w.HTML()
        controls = w.HBox([w.VBox([self.label, self.clip, self.kind]),
                           w.VBox([self.n_fft, self.hop_length, self.n_mels]), w.VBox([self.n_mfcc, self.top_db])])
        self.widget = w.VBox([controls, self.info, self.player, self.image])
        self._switching = False
        self.label.observe(self._on_label, names="value")
        for control in (self.clip, self.kind, self.n_fft, self.hop_length, self.n_mels, self.n_mfcc, self.top_db):
            control.observe(lambda _change: None if self._switching else self.update(), names="value")
        self.update()

    def _clip_options(self, label: str) -> list[str]:
        return self.clips.loc[self.clips["label"] == label, "fname"].tolist()

    def _on_label(self, change) -> None:
        self._switching = True   # new options select their first clip: redraw once, below
        try:
            self.clip.options = self._clip_options(change["new"])
        finally:
            self._switching = False
        self.update()

    def config(self) -> FeatureConfig:
        """The :class:`FeatureConfig` of the current controls (native shape, dB values)."""
        n_mels = int(self.n_mels.value)
        return FeatureConfig(kind=self.kind.value, sample_rate=self.sample_rate, n_fft=int(self.n_fft.value),
                             hop_length=int(self.hop_length.value), n_mels=n_mels,
                             n_mfcc=min(int(self.n_mfcc.value), n_mels), top_db=float(self.top_db.value),
                             spectrogram_n_fft=None, image_size=None, standardize="none")

    def wave(self) -> np.ndarray:
        """The selected clip (at most ``max_seconds``) at ``sample_rate``."""
        fname = self.clip.value
        if fname not in self._cache:
            path = self.clips.loc[self.clips["fname"] == fname, "path"].iloc[0]
            self._cache[fname] = load_audio(path, self.sample_rate)[: int(self.max_seconds * self.sample_rate)]
        return self._cache[fname]

    def update(self) -> None:
        """Recompute the feature and redraw (called on every control change)."""
        cfg = self.config()
        wave = self.wave()
        self.feature = compute_features(wave, cfg).numpy()
        self.waveform = wave
        fig = plots._new(8.0, 5.2)
        plots.waveform(wave, self.sample_rate, title=f"{self.label.value}: {self.clip.value}",
                       ax=fig.add_subplot(2, 1, 1))
        shape = " x ".join(str(s) for s in self.feature.shape)
        window = (f"windows {', '.join(map(str, cfg.multires_windows))} (channel 0 shown)" if cfg.kind == "multires"
                  else f"window {cfg.n_fft}")
        plots.feature_image(self.feature, cfg.kind, cfg.hop_length, cfg.sample_rate,
                            f"{plots.FEATURE_NAMES[cfg.kind]}: {window}, hop {cfg.hop_length}, shape {shape}",
                            ax=fig.add_subplot(2, 1, 2))
        self.info.value = (f"<b>{self.label.value}</b> / {self.clip.value}: {len(wave) / self.sample_rate:.2f} s, "
                           f"feature shape (channels, rows, frames) = {self.feature.shape}")
        self.player.value = wav_bytes(wave, self.sample_rate)
        self._show(self.image, fig)


# ---------------------------------------------------------------------------------------------- augmentation
class AugmentationExplorer(_Explorer):
    """Mixup of two clips and random erasing of the mix, with the paper's log-mel features.

    Both clips are centre crops of ``seconds`` at ``sample_rate`` (peak-normalised). Mixup is applied to the
    waveforms (``.mixed_wave``, which you hear) and to the standardised log-mel features (``.mixed_feature``, what
    the 2D-ConvNet is trained on); the soft target is ``lam`` of A's class plus ``1 - lam`` of B's. Random erasing
    (``p = 1`` here, so it always erases) then overwrites one rectangle of the mixed feature: ``.erased``, the
    rectangle in ``.box`` (top, left, height, width).
    """

    def __init__(self, clips: pd.DataFrame, sample_rate: int = SAMPLE_RATE, seconds: float = _A["seconds"],
                 features: FeatureConfig | None = None, seed: int = _A["seed"]):
        import ipywidgets as w

        self.clips = _clip_table(clips)
        self.sample_rate = sample_rate
        self.seconds = seconds
        self.features = (features or FeatureConfig(kind="logmel")).replace(sample_rate=sample_rate, image_size=None)
        self._cache: dict[str, np.ndarray] = {}
        options = [(f"{row.label} / {row.fname}", row.fname) for row in self.clips.itertuples()]
        firsts = self.clips.drop_duplicates("label")["fname"].tolist()
        self.clip_a = w.Dropdown(options=options, value=firsts[0], description="clip A")
        self.clip_b = w.Dropdown(options=options, value=firsts[1 % len(firsts)], description="clip B")
        lo, hi, step = _A["mixup_lambda_range"]
        self.lam = w.FloatSlider(value=_A["mixup_lambda"], min=lo, max=hi, step=step, description="lambda",
                                 continuous_update=False)
        lo, hi, step = _A["erase_area_range"]
        self.erase_area = w.FloatRangeSlider(value=tuple(_A["erase_area"]), min=lo, max=hi, step=step,
                                             description="erase area", continuous_update=False)
        lo, hi, step = _A["erase_aspect_range"]
        self.erase_aspect = w.FloatRangeSlider(value=tuple(_A["erase_aspect"]), min=lo, max=hi, step=step,
                                               description="aspect", continuous_update=False)
        self.fill = w.Dropdown(options=tuple(_A["fills"]), value=_A["fill"], description="fill")
        self.seed = w.IntText(value=seed, description="seed")
        self.image = w.Image(format="png")
        self.player = w.Audio(format="wav", autoplay=False, loop=False)
        self.info = w.HTML()
        controls = w.HBox([w.VBox([self.clip_a, self.clip_b, self.lam]),
                           w.VBox([self.erase_area, self.erase_aspect, self.fill, self.seed])])
        self.widget = w.VBox([controls, self.info, self.player, self.image])
        for control in (self.clip_a, self.clip_b, self.lam, self.erase_area, self.erase_aspect, self.fill, self.seed):
            control.observe(lambda _change: self.update(), names="value")
        self.update()

    def _label(self, fname: str) -> str:
        return str(self.clips.loc[self.clips["fname"] == fname, "label"].iloc[0])

    def crop(self, fname: str) -> np.ndarray:
        """The centre ``seconds`` of a clip (repeated if shorter), peak-normalised."""
        if fname not in self._cache:
            path = self.clips.loc[self.clips["fname"] == fname, "path"].iloc[0]
            wave = center_crop(load_audio(path, self.sample_rate), int(self.seconds * self.sample_rate))
            peak = float(np.abs(wave).max())
            self._cache[fname] = wave / peak if peak > 0 else wave
        return self._cache[fname]

    def update(self) -> None:
        """Recompute the mix and the erasing and redraw (called on every control change)."""
        lam = float(self.lam.value)
        a, b = self.crop(self.clip_a.value), self.crop(self.clip_b.value)
        self.wave_a, self.wave_b = a, b
        label_a, label_b = self._label(self.clip_a.value), self._label(self.clip_b.value)
        self.label_a, self.label_b = label_a, label_b
        cfg = self.features.replace(standardize="clip")
        feats = compute_features(np.stack([a, b]), cfg)
        self.feature_a, self.feature_b = feats[0].numpy(), feats[1].numpy()
        onehot = torch.eye(2)
        mixed, target = mix_pair(feats[0], feats[1], onehot[0], onehot[1], lam)
        self.mixed_feature = mixed.numpy()
        self.mixed_target = {label_a: float(target[0]), label_b: float(target[1])} if label_a != label_b else {
            label_a: 1.0}
        self.mixed_wave = mix_pair(torch.as_tensor(a), torch.as_tensor(b), onehot[0], onehot[1], lam)[0].numpy()

        eraser = RandomErasing(p=1.0, area=tuple(self.erase_area.value), aspect=tuple(self.erase_aspect.value),
                               value=self.fill.value)
        gen = torch.Generator().manual_seed(int(self.seed.value))
        x = mixed[None]
        boxes = eraser.sample_boxes(1, x.shape[-2], x.shape[-1], generator=gen)
        self.box = tuple(int(t[0]) for t in (boxes.top, boxes.left, boxes.height, boxes.width))
        self.erased = eraser(x, generator=torch.Generator().manual_seed(int(self.seed.value)))[0].numpy()

        fig = plots._new(11.0, 7.6)
        sub = fig.subfigures(2, 1, height_ratios=(2.2, 1.0))
        top = sub[0].subplots(2, 3)
        titles = (f"A: {label_a}", f"B: {label_b}", f"mix: {lam:.2f} {label_a} + {1 - lam:.2f} {label_b}")
        for ax, x_, t in zip(top[0], (self.feature_a, self.feature_b, self.mixed_feature), titles):
            plots.feature_image(x_, "logmel", title=t, ax=ax, colorbar=False, unit="standardised")
        for ax, w_, color in zip(top[1], (a, b, self.mixed_wave), ("tab:blue", "tab:orange", "tab:green")):
            plots.waveform(w_, self.sample_rate, ax=ax, color=color)
            ax.set_ylim(-1.05, 1.05)
        bottom = sub[1].subplots(1, 2)
        vmin, vmax = float(self.mixed_feature.min()), float(self.mixed_feature.max())
        for ax, x_, t in zip(bottom, (self.mixed_feature, self.erased),
                             ("mix", f"mix after random erasing (box {self.box[2]} x {self.box[3]})")):
            ax.imshow(x_[0], origin="lower", aspect="auto", cmap=plots.FEATURE_CMAP, vmin=vmin, vmax=vmax,
                      interpolation="nearest")
            ax.set_title(t, fontsize=10)
        fig.suptitle(f"Mixup (lambda = {lam:.2f}) and random erasing")
        share = ", ".join(f"{v:.2f} {k}" for k, v in self.mixed_target.items())
        self.info.value = f"soft target of the mix: {share}"
        self.player.value = wav_bytes(self.mixed_wave, self.sample_rate)
        self._show(self.image, fig)


# ------------------------------------------------------------------------------------------------ predictions
class PredictionExplorer(_Explorer):
    """Pick a clip; see its top ``top`` tags with their probabilities and whether they are right.

    ``preds``: :class:`audiotag.training.prediction_sets.Predictions` (e.g. a run's test predictions, or
    :func:`audiotag.inference.tagging.predict_files` on your own files); ``truth``: ``fname -> label`` for the clips whose
    label is known (a dataset's test table indexed by fname, or a dict); ``paths``: ``fname -> audio file`` for the
    player (when ``fnames`` are not paths themselves). ``.top`` holds the current clip's table (rank, label,
    probability, correct); ``.hit`` whether the true label is among the top tags (``None`` if unknown).
    """

    static_note = KERNEL_NOTE

    def __init__(self, preds, truth: Mapping[str, str] | pd.Series | None = None,
                 paths: Mapping[str, str] | pd.Series | None = None, top: int = 3):
        import ipywidgets as w

        if len(preds) == 0:
            raise ValueError("no predictions to explore")
        self.preds = preds
        known = dict(truth) if truth is not None else {}
        self.truth = {str(k): v for k, v in known.items() if isinstance(v, str) and v not in ("", "None")}
        self.paths = {str(k): str(v) for k, v in (dict(paths) if paths is not None else {}).items()}
        self.k = min(top, len(preds.classes))
        self._index = {f: i for i, f in enumerate(preds.fnames)}
        options = [(self._option_label(f), f) for f in preds.fnames]
        self.clip = w.Dropdown(options=options, value=preds.fnames[0], description="clip",
                               layout=w.Layout(width="60%"))
        self.image = w.Image(format="png")
        self.player = w.Audio(format="wav", autoplay=False, loop=False)
        self.verdict = w.HTML()
        self.widget = w.VBox([self.clip, self.verdict, self.player, self.image])
        self.clip.observe(lambda _change: self.update(), names="value")
        self.update()

    def _option_label(self, fname: str) -> str:
        name = os.path.basename(fname)
        return f"{name} (true: {self.truth[fname]})" if fname in self.truth else name

    def update(self) -> None:
        """Recompute the selected clip's top tags and redraw."""
        fname = self.clip.value
        probs = self.preds.probs[self._index[fname]]
        order = np.argsort(-probs, kind="stable")[: self.k]
        true = self.truth.get(fname)
        labels = [self.preds.classes[j] for j in order]
        self.top = pd.DataFrame({"rank": np.arange(1, self.k + 1), "label": labels,
                                 "probability": probs[order].astype(float),
                                 "correct": [lab == true for lab in labels] if true else [None] * self.k})
        self.hit = None if true is None else bool(true in labels)
        true_rank = true_prob = None
        if true is not None and true not in labels and true in self.preds.classes:
            j = list(self.preds.classes).index(true)
            true_rank, true_prob = int((probs > probs[j]).sum()) + 1, float(probs[j])
        fig = plots.topk_bars(labels, probs[order], true, title=os.path.basename(fname), true_rank=true_rank,
                              true_prob=true_prob)
        if true is None:
            self.verdict.value = "true label unknown"
        elif self.hit:
            rank = labels.index(true) + 1
            self.verdict.value = (f"<span style='color:green'>right</span>: the true label <b>{true}</b> is tag "
                                  f"{rank} of {self.k} (MAP@3 credit {1 / rank:.2f})")
        else:
            where = f" (its rank: {true_rank})" if true_rank else ""
            self.verdict.value = (f"<span style='color:red'>wrong</span>: the true label <b>{true}</b> is not "
                                  f"among the top {self.k}{where}")
        path = self.paths.get(fname, fname)
        self.player.value = wav_bytes(load_audio(path, PLAYER_RATE), PLAYER_RATE) if Path(path).is_file() else b""
        self._show(self.image, fig)
