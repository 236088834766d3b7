# Helpers shared by the rules: sweep expansion, config lookups and cross-checks. Included by the Snakefile before any
# rule file, so that what the rules call at parse time is defined; split by concern, in dependency order:
# config access (config.smk), then output paths and target lists (paths.smk), then the `params:` getters (params.smk).


include: "common/config.smk"
include: "common/paths.smk"
include: "common/params.smk"
include: "common/index_families.smk"
include: "common/what_wins.smk"
