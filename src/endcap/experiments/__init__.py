"""A/B experiments: assignment, reporting and the statistics behind them."""
