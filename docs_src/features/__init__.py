"""The examples of the "Features beyond ODMantic" page."""
