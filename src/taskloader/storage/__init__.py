"""Where a run keeps its files on S3: URLs and the client, the overlap lock, the output prefix.

``s3`` (S3 URLs and the synchronous client), ``lock`` (the S3 overlap lock), ``s3_dir`` (an
``--out-dir s3://`` prefix: download, checkpoints, uploads).
"""
