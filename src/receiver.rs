//! The one-call pipeline. (Being written: see issue 4.)
