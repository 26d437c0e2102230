"""The spread monitor: a quote source feeds a board of best quotes per book, a one-second sampler
reads it, and the records go to the lake writer and the alert sinks."""
