"""Stage 5, ensembles and evaluation (chapter 5, *Ensembles and evaluation*): rank, mean, geometric and stacked
ensembles of runs (``ensembles``), public/private/whole test scores, Table 5, confusion and submissions
(``scores``), the paper's published numbers (``paper_results``), the classic MFCC-statistics floor (``classic``),
bootstrap intervals of scores and differences (``uncertainty``) and the studies' check against the main run
(``studies``); and, for chapter 6 (*Inside the networks*), the 1D net's learned filters (``filters``), Grad-CAM
(``gradcam``), penultimate embeddings and t-SNE (``embeddings``) and finding wrong labels (``label_noise``)."""
