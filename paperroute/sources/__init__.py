"""Source formats: each module turns one kind of listing into `Paper` records.

A format module defines FORMAT (its name in a paper's `sources`), `sniff(text) -> bool` (does
this content look like mine?) and `parse(text, path, listing_date, today) -> list[Paper]`,
raising `InputError` with file and line for anything it cannot read. `detect` picks the module.
"""
