"""Database connections the toolkit's backends share: one module per database,
a package where a database needs more than one concept."""
