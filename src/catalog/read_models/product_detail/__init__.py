"""The product detail read model."""
