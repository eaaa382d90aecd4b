"""fieldkit: an offline-first kit for peer assessments of drug treatment centres."""

__version__ = "0.1.0"
