"""core — generic helpers with no amips concept in them: user-error types, content fingerprints, frozen settings from
mappings, memory checks, logging set-up, the run environment (device, versions, lock file).

May import: nothing of amips outside ``core``.
"""
