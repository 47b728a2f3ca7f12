"""The order view read model."""
