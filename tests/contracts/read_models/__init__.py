"""The read-model contract: what every backend of each read model answers after one
fixed history (`contract`), run against each backend (`test_<backend>.py`)."""
