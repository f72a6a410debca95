"""A load benchmark of the app against the stack's own limit; see bench/README.md."""
