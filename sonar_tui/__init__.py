"""sonar-tui: a keyboard-driven terminal client for Perplexity's web-grounded answers.

Importing the package is cheap on purpose: the TUI, the HTTP client and the store are
imported only by the commands that need them.
"""

__version__ = "0.1.0"
