"""The read side: queries and their handlers, reading read models only."""
