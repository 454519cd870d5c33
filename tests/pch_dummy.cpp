// Anchor for the shared precompiled header of torch tests.
