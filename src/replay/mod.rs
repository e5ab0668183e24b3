//! Replay protection. (Being written: see issue 4.)
