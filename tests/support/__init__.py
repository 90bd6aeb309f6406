"""Helpers the tests share: waiting with deadlines, real processes, the real broker."""
