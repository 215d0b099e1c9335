"""What the handlers share: keyboards, filters, i18n, message helpers, charts."""
