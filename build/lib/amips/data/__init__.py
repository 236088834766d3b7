"""data — getting vectors in and out: safe file I/O (atomic writes, validated ``.npy``), key/query sets (synthetic
generators, user embeddings), text datasets embedded offline (``text/``), noise augmentation and splits, folder
manifests and the verified readers of dataset and labels folders, content digests of user inputs.

May import: ``core``.
"""
