"""Blue/green rebuilds on the services profile: stored copies by generation
(`storage`), built and promoted by workers (`keeper`), switched to by API processes
(`serving`). The registry itself is `tandem.generations`."""
