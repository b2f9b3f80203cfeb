"""Everything that talks to the outside: storage settings, ERP transports, mapping, writeback."""
