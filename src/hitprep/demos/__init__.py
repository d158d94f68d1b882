"""One demo per use case, run by ``python -m hitprep.demo`` (``make demo``)."""
