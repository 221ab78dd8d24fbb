"""Hostile input corpus (see corpus.py)."""
