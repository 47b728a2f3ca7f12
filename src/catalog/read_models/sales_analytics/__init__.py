"""The sales analytics read model."""
