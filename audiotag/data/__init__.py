"""Stage 1, the data (chapter 1, *The data*): the 41-label vocabulary (``labels``), reading any audio file as float
mono at a chosen rate (``audio``), FSDKaggle2018 and folder + CSV datasets (``datasets``), the resumable Zenodo
download (``download``) and its few-clips-per-class subset read out of the zips by HTTP Range (``subset``), and the
embedded synthetic corpus in FSDKaggle2018's layout (``synth``)."""
