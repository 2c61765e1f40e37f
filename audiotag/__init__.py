"""audiotag: general-purpose audio tagging, reproducing DCASE 2018 Task 2 (Wei, Liu, Ruan) as an executable book."""
import os as _os

# Reproducible math: MKL reads these at its first call, so they are set before anything else imports torch
# (see audiotag.training.devices; settings from the environment win).
_os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
_os.environ.setdefault("MKL_DYNAMIC", "FALSE")

from audiotag.data.labels import LABELS, LABEL_TO_INDEX, SAMPLE_RATE
from audiotag.data.audio import AudioError, load_audio
from audiotag.features.config import FeatureConfig
from audiotag.training.config import InferenceConfig, TrainConfig
from audiotag.inference.tagging import predict

__version__ = "0.1.0"

__all__ = ["LABELS", "LABEL_TO_INDEX", "SAMPLE_RATE", "AudioError", "load_audio", "FeatureConfig", "InferenceConfig", "TrainConfig", "predict", "__version__"]
