"""Stage 5, ensembles and evaluation (chapter 5, *Ensembles and evaluation*): rank, mean, geometric and stacked
ensembles of runs (``ensembles``), public/private/whole test scores, Table 5, confusion and submissions
(``scores``), the paper's published numbers (``paper_results``), and the classic MFCC-statistics floor
(``classic``)."""
