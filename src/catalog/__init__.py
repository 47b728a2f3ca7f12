"""The e-commerce product catalog, built on the Tandem toolkit."""
