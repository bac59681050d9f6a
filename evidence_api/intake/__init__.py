"""Evidence intake: streaming uploads and stamps, evidence queries, custody,
downloads, proof bundles and the exported evidence package."""
