"""Contacts in and out: the CSV importer, the export, and queue priorities.

By concern: `reading` reads a CSV's rows, `importer` writes them in one transaction,
`priorities` orders the queue by the campaign's targets, `export` writes the CSV back out.
"""

from storage.contacts.export import EXPORT_COLUMNS, export_contacts
from storage.contacts.importer import import_contacts
from storage.contacts.priorities import priority, target_priorities
from storage.contacts.reading import (
    MAX_FIELD,
    ImportReport,
    Reject,
    map_header,
    normalise_header,
    sniff_delimiter,
    write_rejects,
)
from storage.csv_input import ImportFailed

# The names storage.stations and storage.campaigns import.
_sniff_delimiter, _priority, _target_priorities = sniff_delimiter, priority, target_priorities

__all__ = ["EXPORT_COLUMNS", "MAX_FIELD", "ImportFailed", "ImportReport", "Reject",
           "export_contacts", "import_contacts", "map_header", "normalise_header",
           "priority", "sniff_delimiter", "target_priorities", "write_rejects"]
