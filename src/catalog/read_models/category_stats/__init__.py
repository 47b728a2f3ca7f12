"""The category stats read model."""
