"""存证证书: a PAdES-signed evidence certificate PDF for each evidence item, and the
signed appraisal report."""
