"""Applications built on Tandem's public modules only."""
