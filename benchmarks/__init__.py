"""otelsvc benchmarks (``python -m benchmarks``)."""
