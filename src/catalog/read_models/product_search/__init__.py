"""The product search read model."""
