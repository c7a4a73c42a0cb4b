"""Model-variant sweeps for `lsf compare`: variants from axes (`variants`), the comparison
table read from each variant's outputs (`table`) and the comparison page (`page`)."""
