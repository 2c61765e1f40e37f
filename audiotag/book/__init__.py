"""The book around the stages: the figures of every chapter (``plots``), the ipywidgets explorers (``widgets``), and
the build that executes the notebooks and renders the site (``build``; ``python -m audiotag.book``)."""
