"""MongoDB's unified driver specification tests, run by pymongo's own runner against the embedded server.

``python -m tests.driver_spec [CATEGORY ...]``; the upstream files are downloaded
and cached outside the repository, only this runner and its pytest plugin live here.
"""
