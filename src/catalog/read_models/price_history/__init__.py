"""The price history read model."""
