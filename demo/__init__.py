"""`make demo` and the Meltano helpers the end-to-end tests share."""
