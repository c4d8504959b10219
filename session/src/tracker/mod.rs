//! Tracker announces: HTTP(S) (BEP 3, 7, 23, 48) and UDP (BEP 15), in the
//! tiers of BEP 12 (work in progress).
