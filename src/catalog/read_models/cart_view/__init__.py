"""The cart view read model."""
