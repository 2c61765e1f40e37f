"""The FSDKaggle2018 vocabulary: 41 AudioSet labels, in the order Kaggle's sample submission used.

This order is the class index order of every model, prediction array and checkpoint in audiotag.
"""

LABELS: tuple[str, ...] = (
    "Acoustic_guitar", "Applause", "Bark", "Bass_drum", "Burping_or_eructation", "Bus", "Cello",
    "Chime", "Clarinet", "Computer_keyboard", "Cough", "Cowbell", "Double_bass",
    "Drawer_open_or_close", "Electric_piano", "Fart", "Finger_snapping", "Fireworks", "Flute",
    "Glockenspiel", "Gong", "Gunshot_or_gunfire", "Harmonica", "Hi-hat", "Keys_jangling", "Knock",
    "Laughter", "Meow", "Microwave_oven", "Oboe", "Saxophone", "Scissors", "Shatter", "Snare_drum",
    "Squeak", "Tambourine", "Tearing", "Telephone", "Trumpet", "Violin_or_fiddle", "Writing",
)
assert len(LABELS) == 41 and len(set(LABELS)) == 41

LABEL_TO_INDEX: dict[str, int] = {label: i for i, label in enumerate(LABELS)}

#: Sample rate of FSDKaggle2018 (all clips are 44.1 kHz, 16-bit mono PCM).
SAMPLE_RATE = 44100
