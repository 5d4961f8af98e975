"""Scrapy extensions: accounting, run summary, exit status, progress, watchdogs."""
