"""One module per command family (named after it); each exposes typed functions that
return an exit code. The work is done in the layers below (docs/architecture.md)."""
