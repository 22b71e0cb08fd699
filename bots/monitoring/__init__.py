"""Monitoring (issue 11): the documentation record of a contact that funders ask for.

The functional core only, no Matrix, database or command framework, so every rule is a
plain function with a table test:

- ``forms``: form definitions in ``templates/forms/*.yaml`` and their loader;
- ``values``: reading a typed answer per field type (German and English);
- ``dialogue``: the guided dialogue as a JSON-serialisable state machine, and the one-line
  ``key=value`` form;
- ``export``: the CSV file for German Excel;
- ``stats``: the period and the aggregates of monitorings and requests;
- ``chart``: the statistics as a PNG (matplotlib, Agg).
"""
