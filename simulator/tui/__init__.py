"""Textual views over the terminal model (issue 7)."""
