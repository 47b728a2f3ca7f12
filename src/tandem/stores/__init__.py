"""Read and write store backends, one module each (a package of the same name where one
module would be too big); optional ones import lazily."""
