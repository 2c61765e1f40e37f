"""The solutions of the book's exercises, one module per chapter (``ch1_data`` ... ``ch6_tagging``).

Each exercise that computes something has a small function here, so the solution a reader reveals in the page is
code the tests run (``tests/test_exercises_ch*.py``): a solution that breaks fails ``make test``.
"""
