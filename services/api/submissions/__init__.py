"""Submissions: the processing state of a submitter's own records, and nobody else's."""
