"""The page kit: the static HTML pages of `lsf report` and `lsf compare`.

`page` (the page being built, its CSS and document shell), `tables` (the one HTML table),
`numbers` (the one set of number formatters) and the report's sections, one module per
part of the page. Figures come from `lsf.plots` (arrays in, `Figure` out); the sections
save them beside the page.
"""
