"""Spiders: navigation only. Extraction lives in :mod:`sinacrawl.parsing`."""
