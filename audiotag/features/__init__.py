"""Stage 2, features and augmentation (chapter 2, *Features and augmentation*): the settings that shape a network's
input (``config.FeatureConfig``), the paper's four spectral features in torch, numerically librosa's
(``spectral``), and mixup, random erasing and SpecAugment (``augment``)."""
