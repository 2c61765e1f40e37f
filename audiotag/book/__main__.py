"""``python -m audiotag.book``: execute the notebooks and build the site (see :mod:`audiotag.book.build`)."""
import sys

from audiotag.book.build import main

sys.exit(main())
