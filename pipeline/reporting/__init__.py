"""Reporting: collected runs (DVC outputs, a sweep, a DVC batch) -> the comparison and the paper's figures."""
