"""The engine owns the order: graph, steps, the up pipeline, run logs and summaries."""
