"""Outlier scores of inference results: one small class per method, behind :class:`OutlierMethod`."""
