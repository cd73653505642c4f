"""Counterexamples as replayable data (`mcheck witness`).

`search.find` runs the explicit search for the shortest violation and lines its path up
with the model without the catalogue bug (where the bug first acts, and, when the path's
events do not show it yet, the shortest continuation that does). The writers turn that
path into files other commands take: `capture` a trace for `mcheck replay`, `suite` a
one-test conformance suite for `mcheck conform`, `itf` Apalache's Informal Trace Format.
"""
