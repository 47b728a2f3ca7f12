"""Read and write store backends, one module each; optional ones import lazily."""
