"""Reports: the four inputs' schemas, JSON submission, file upload and the dead-letter topic."""
