"""MkDocs hooks that write the pages generated at build time (API reference, benchmark charts)."""
