"""linecode: trace codes for a vaccine or medicine packaging line."""

__version__ = "0.1.0"
