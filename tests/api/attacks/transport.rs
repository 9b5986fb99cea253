//! Placeholder: filled by the issue 13 work on transport.
