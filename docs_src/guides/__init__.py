"""The guides' examples, one runnable module each."""
