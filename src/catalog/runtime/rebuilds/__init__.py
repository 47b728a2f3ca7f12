"""Blue/green rebuilds of the catalog's read models on every profile: embedded files
(`files`, `embedded`), services copies built and promoted by workers (`keeper`) and
switched to by API processes (`serving`), analytics each API process folds itself
(`analytics`), and the storage of copies (`storage`)."""
