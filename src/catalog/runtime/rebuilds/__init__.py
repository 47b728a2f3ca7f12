"""Blue/green rebuilds of the catalog's read models on every profile: embedded files
(`files`, `embedded`), services copies built and promoted by workers (`keeper`) and
switched to by API processes (`serving`), and the storage of copies (`storage`)."""
