"""Exports of a batch for upstream systems: EPCIS 2.0 JSON-LD and the NMPA batch report (JSON, XML).

Every writer streams to a binary or text file, reads the store only through its public API (so it
works on a read-only store beside a running server) and returns an :class:`ExportSummary`:

* :func:`write_epcis` (``epcis.py``): the batch's line events as an EPCIS 2.0 document;
* :func:`write_nmpa_json`, :func:`write_nmpa_xml` (``nmpa.py``): the production data set and the
  packaging relations, with field names mapped to NMPAB/T 1004-2019 data elements.

``identifiers.py`` says how codes and lines are named (GS1 Digital Link, private ``urn:linecode:``
URNs). This package imports the store and codes only, never gRPC.
"""

from linecode.export.epcis import write_epcis
from linecode.export.identifiers import code_of_uri, code_uri, line_uri
from linecode.export.nmpa import write_nmpa_json, write_nmpa_xml
from linecode.export.sink import ExportSummary

__all__ = [
    "ExportSummary",
    "code_of_uri",
    "code_uri",
    "line_uri",
    "write_epcis",
    "write_nmpa_json",
    "write_nmpa_xml",
]
