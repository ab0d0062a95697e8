"""The documentation's code: every code block of the site is one of these modules, run by tests/docs."""
