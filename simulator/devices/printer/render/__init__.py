"""Receipts drawn as the paper would show them: PNG, fonts, symbols, 1-bit images."""
