"""audiotag: general-purpose audio tagging, reproducing DCASE 2018 Task 2 (Wei, Liu, Ruan) as an executable book."""
# Reproducible math: MKL reads its settings at its first call, so they are requested before any of ours
# (audiotag.training.devices; settings from the environment win).
from audiotag.training.devices import request_reproducible_math as _request_reproducible_math

_request_reproducible_math()

from audiotag.data.labels import LABELS, LABEL_TO_INDEX, SAMPLE_RATE
from audiotag.data.audio import AudioError, load_audio
from audiotag.features.config import FeatureConfig
from audiotag.training.config import InferenceConfig, TrainConfig
from audiotag.inference.tagging import predict

__version__ = "0.1.0"

__all__ = ["LABELS", "LABEL_TO_INDEX", "SAMPLE_RATE", "AudioError", "load_audio", "FeatureConfig", "InferenceConfig", "TrainConfig", "predict", "__version__"]
