"""The pipeline's own code: the job protocol the rules' scripts call (:mod:`.jobs`), the results
layout (:mod:`.layout`), code hashes from the import graph (:mod:`.imports`), cluster resources,
provenance, and atomic file handling. The library below it never imports it."""
