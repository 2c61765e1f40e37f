"""What the networks' last hidden layer holds: one vector per clip, mapped to the plane with t-SNE.

Both networks end in a linear classifier: ``logits = W h + b``. The vector ``h`` it reads -- the *embedding* --
is everything the network kept about the clip: 384 globally pooled channels in the 1D-ConvNet, the 1024 units of
the dense layer in the 2D-ConvNet. Classes the classifier separates well lie in different regions of this space;
classes it confuses overlap. Two tools look at that:

* :func:`embed` / :func:`embed_clips` -- the embeddings, caught by a forward hook on the classifier's input
  (nothing in the model changes). :func:`embed_clips` scores clips as inference does (the checkpoint's crops:
  the centre, or windows covering the clip) and averages each clip's window embeddings, as inference averages
  their probabilities; it also returns those probabilities, which equal the run's test predictions.
* :func:`tsne_map` -- t-SNE (van der Maaten and Hinton 2008) places the clips in 2-D so that clips that are near
  neighbours in the embedding stay near. It keeps *neighbourhoods*, not distances: the size of a cluster and the
  gap between two clusters mean little; which points sit together means a lot. ``perplexity`` is roughly the
  number of neighbours each point attends to, and must be well below the number of points.
* :func:`overlapping_classes` -- a number behind the picture: for every clip, which of its ``k`` nearest
  neighbours belong to another class, counted per pair of classes. Computed in the embedding itself (or in the
  2-D map, if given one), so it does not depend on how t-SNE happened to draw the clusters.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from audiotag.data.audio import load_audio
from audiotag.training.bank import ClipBank, average_windows
from audiotag.training.checkpoint import Checkpoint
from audiotag.training.devices import autocast, resolve_precision
from audiotag.training.pipeline import InputPipeline

#: Largest perplexity :func:`tsne_map` picks by itself (scikit-learn's default).
MAX_PERPLEXITY = 30.0
#: Dimensions PCA keeps before t-SNE when the embedding is wider (the usual speed-up; most variance survives).
PCA_DIMS = 50


def classifier_layer(model: nn.Module) -> nn.Linear:
    """The final linear classifier whose input is the embedding: ``model.classifier`` in every audiotag network
    (``Linear(384, 41)`` in the 1D-ConvNet, ``Linear(1024, 41)`` in the 2D-ConvNet), else the last ``Linear``."""
    layer = getattr(model, "classifier", None)
    if isinstance(layer, nn.Linear):
        return layer
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear classifier")
    return linears[-1]


def embedding_size(model: nn.Module) -> int:
    """Width of the embedding: the classifier's ``in_features``."""
    return classifier_layer(model).in_features


@torch.no_grad()
def embed(model: nn.Module, inputs: torch.Tensor, batch_size: int = 64, return_logits: bool = False,
          amp_dtype: torch.dtype | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Embeddings ``(B, d)`` of a prepared input batch (what the network's ``forward`` takes), in eval mode.

    The forward hook on :func:`classifier_layer` records the classifier's input. A network that classifies
    several patches per example (the DCASE baseline: ``B * K`` rows) gets each example's mean patch embedding.
    With ``return_logits`` the logits ``(B, n_classes)`` come too. ``amp_dtype`` runs the network under autocast
    (``torch.bfloat16``), as training and prediction do where bf16 is fast; default fp32.
    """
    layer = classifier_layer(model)
    device = next(model.parameters()).device
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, args, output: seen.append(args[0].detach()))
    was_training = model.training
    model.eval()
    vectors, logits = [], []
    try:
        for start in range(0, len(inputs), batch_size):
            x = torch.as_tensor(inputs[start:start + batch_size]).float().to(device)
            seen.clear()
            with autocast(device, amp_dtype):
                logits.append(model(x).float().cpu())
            h = seen[-1].float()
            vectors.append(h.reshape(len(x), -1, h.shape[-1]).mean(1).cpu())
    finally:
        handle.remove()
        model.train(was_training)
    out = torch.cat(vectors).numpy()
    return (out, torch.cat(logits).numpy()) if return_logits else out


@dataclass
class ClipEmbeddings:
    """Per clip: ``vectors`` (n, d) the mean window embedding, ``probs`` (n, n_classes) the mean window
    probabilities (the run's prediction), ``names`` (n,) file names (or ``clip_i``), ``classes`` the class order."""

    vectors: np.ndarray
    probs: np.ndarray
    names: np.ndarray
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def predicted(self) -> np.ndarray:
        """Each clip's top class name."""
        return np.asarray(self.classes)[self.probs.argmax(1)]


def embed_clips(checkpoint: Checkpoint, clips: Sequence[str | os.PathLike | np.ndarray],
                model: nn.Module | None = None, batch_size: int = 32, precision: str = "fp32") -> ClipEmbeddings:
    """Embeddings of whole clips (files, or waveforms at the checkpoint's rate) the way inference scores them.

    Each clip goes through the checkpoint's input pipeline into a clip bank, is cut into the inference config's
    crops (the centre, or up to ``max_crops`` windows covering it), and its windows' embeddings and probabilities
    are averaged -- the same crops and averaging as :func:`audiotag.training.validation.predict_bank`, so
    ``probs`` are the fold's test predictions. ``precision``: ``fp32`` by default; a run trained with
    ``precision="auto"`` on a CPU with native bf16 predicted under bf16 autocast, and its saved probabilities
    differ from fp32 ones in the third decimal; ``precision="auto"`` on the same machine reproduces them (measured on
    the ``smoke`` runs: exactly for the 1D net, within 0.001 for the 2D net, which predicted in channels-last layout).
    Works for both networks.
    """
    model = checkpoint.build_model("cpu") if model is None else model.eval()
    device = next(model.parameters()).device
    amp_dtype = resolve_precision(precision, device)
    pipeline = InputPipeline(checkpoint.features, device)
    rate = checkpoint.features.sample_rate
    names, items = [], []
    for i, clip in enumerate(clips):
        is_path = isinstance(clip, (str, os.PathLike))
        wave = load_audio(clip, rate) if is_path else np.asarray(clip, dtype=np.float32)
        names.append(os.path.basename(clip) if is_path else f"clip_{i}")
        items.append(pipeline.clip_item(wave))
    inference = checkpoint.inference
    bank = ClipBank(items, device, short_clip=inference.short_clip)
    n = pipeline.crop_length(inference.crop_seconds)
    vectors, probs = [], []
    for start in range(0, len(bank), batch_size):       # a chunk of clips at a time: memory stays bounded
        part = torch.arange(start, min(start + batch_size, len(bank)), device=device)
        if inference.mode == "center":
            crops, owner = bank.center_crops(part, n), torch.arange(len(part), device=device)
        else:
            windows = bank.window_crops(part, n, inference.n_crops, inference.max_crops)
            crops, owner = windows.data, windows.owner
        h, logits = embed(model, pipeline.model_input(crops), batch_size, return_logits=True, amp_dtype=amp_dtype)
        owner = owner.cpu()
        vectors.append(average_windows(torch.from_numpy(h), owner, len(part)))
        probs.append(average_windows(torch.softmax(torch.from_numpy(logits), dim=1), owner, len(part)))
    return ClipEmbeddings(vectors=torch.cat(vectors).numpy(), probs=torch.cat(probs).numpy(),
                          names=np.asarray(names), classes=tuple(checkpoint.classes))


# --------------------------------------------------------------------------------------------------------------
# The map and its overlaps
# --------------------------------------------------------------------------------------------------------------
def default_perplexity(n: int) -> float:
    """A perplexity for ``n`` points: 30 (scikit-learn's default) when there are enough points, else just under
    ``n / 3`` (each point then still has about three times as many points as its effective neighbours), at
    least 1."""
    if n < 2:
        raise ValueError(f"t-SNE needs at least 2 points, got {n}")
    return float(max(1.0, min(MAX_PERPLEXITY, (n - 1) / 3)))


def tsne_map(embeddings: np.ndarray, seed: int = 0, perplexity: float | None = None) -> np.ndarray:
    """2-D t-SNE coordinates ``(n, 2)`` of ``embeddings`` ``(n, d)``, the same for the same ``seed``.

    The embeddings are standardised per dimension (units of very different scales would otherwise dominate), and
    reduced to :data:`PCA_DIMS` dimensions by PCA when wider; t-SNE then starts from the PCA layout
    (``init="pca"``: more stable than a random start, and it keeps the global arrangement a little better), with
    scikit-learn's automatic learning rate. With a PCA start the seed only fixes the randomised SVD, so different
    seeds give a similar map (the points move, most overlapping pairs stay: chapter 6 measures it); the same seed
    gives the identical map.

    It runs on one thread: scikit-learn's Barnes-Hut t-SNE starts an OpenMP parallel region per iteration, and on a
    small or busy CPU the threads' spin-waiting made it 10-30 times slower than one thread (measured on a 2-core
    machine under load: 46 points 9 s -> 0.3 s, 1600 points 136 s -> 35 s).
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (n, d), got shape {x.shape}")
    n = len(x)
    perplexity = default_perplexity(n) if perplexity is None else float(perplexity)
    if not 0 < perplexity < n:
        raise ValueError(f"perplexity must lie in (0, {n}) for {n} points, got {perplexity}")
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-8)
    with threadpool_limits(1):
        if x.shape[1] > PCA_DIMS and n > PCA_DIMS:
            x = PCA(PCA_DIMS, random_state=seed).fit_transform(x)
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
        return tsne.fit_transform(x).astype(np.float32)


def neighbour_labels(points: np.ndarray, labels: Sequence, k: int = 5) -> np.ndarray:
    """The labels ``(n, k)`` of each point's ``k`` nearest other points (Euclidean; ties by index)."""
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels)
    if len(x) != len(labels):
        raise ValueError(f"{len(x)} points but {len(labels)} labels")
    if not 1 <= k < len(x):
        raise ValueError(f"k must lie in [1, {len(x) - 1}] for {len(x)} points, got {k}")
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    # Drop each point itself (normally column 0; with exact duplicates it may sit elsewhere).
    own = np.arange(len(x))[:, None]
    rows = [row[row != i][:k] for row, i in zip(idx, own[:, 0])]
    return labels[np.stack(rows)]


def overlapping_classes(embeddings_or_map: np.ndarray, labels: Sequence, k: int = 5,
                        top: int | None = 5) -> pd.DataFrame:
    """The pairs of classes whose clips are most often each other's nearest neighbours.

    For every clip, look at its ``k`` nearest neighbours (:func:`neighbour_labels`); a neighbour of class ``b``
    next to a clip of class ``a != b`` is one *mixed link* of the pair {a, b}. Per pair::

        overlap = (links a->b + links b->a) / (k * (n_a + n_b))

    the share of the two classes' neighbour slots taken by the other class of the pair: 0 when they are
    apart, about 0.5 when the two classes are thoroughly interleaved (and nothing else is near). Returns the
    ``top`` pairs (``None``: all with at least one link), most overlapping first, columns ``class_a``, ``class_b``
    (sorted names), ``overlap``, ``links``, ``n_a``, ``n_b``.
    """
    labels = np.asarray(labels).astype(str)
    near = neighbour_labels(embeddings_or_map, labels, k)
    counts = pd.Series(labels).value_counts()
    links: dict[tuple[str, str], int] = {}
    for own, row in zip(labels, near):
        for other in row[row != own]:
            pair = (own, other) if own < other else (other, own)
            links[pair] = links.get(pair, 0) + 1
    rows = [{"class_a": a, "class_b": b, "overlap": n / (k * (counts[a] + counts[b])), "links": n,
             "n_a": int(counts[a]), "n_b": int(counts[b])} for (a, b), n in links.items()]
    table = pd.DataFrame(rows, columns=["class_a", "class_b", "overlap", "links", "n_a", "n_b"])
    table = table.sort_values(["overlap", "links", "class_a", "class_b"],
                              ascending=[False, False, True, True]).reset_index(drop=True)
    return table if top is None else table.head(top)
