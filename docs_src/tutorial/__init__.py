"""The tutorial's steps, one runnable module each."""
