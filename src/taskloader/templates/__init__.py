"""Task templates: the values parsed from GetTaskTemplate, and the cache that resolves a
name or id once per run (from the API, or offline from a directory).
"""
