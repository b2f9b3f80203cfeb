"""ERP inbound: plan parsers, the shared sync semantics, and the watched file inbox."""
