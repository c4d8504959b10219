//! `opentracker` (Debian package `opentracker`). Work in progress.
