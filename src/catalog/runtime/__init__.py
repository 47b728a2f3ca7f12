"""A running catalog: the contract every profile implements (`contract.Runtime`), the
embedded and services implementations, and what they share (running read models,
status rows). `catalog.bootstrap` builds one from settings."""
