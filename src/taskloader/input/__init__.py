"""Reading inputs: CSV and JSONL rows from a local file, gzip, stdin or S3.

``readers`` (rows and raw CSV records with their positions), ``s3`` (an S3 object as a resumable
stream), ``location`` (open any input by its location, fingerprint it, copy a read-once input).
"""
