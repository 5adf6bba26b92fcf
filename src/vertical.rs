//! Vertical recommender (in progress).
