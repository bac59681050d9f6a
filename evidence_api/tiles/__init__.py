"""The C2SP ``tlog-tiles`` read API: the checkpoint, hash tiles and entry bundles, so
anyone can mirror the log and check it with standard tooling."""
