"""Booking's imperative shell: commands and the reads that feed the pure core above it.

Kept in its own package so ``bots.booking``'s modules stay free of I/O (tests/booking/
test_purity.py imports every one of them and finds no database or Matrix code loaded).
"""
