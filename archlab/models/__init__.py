"""Sequence-mixing layers and the scans behind them."""
