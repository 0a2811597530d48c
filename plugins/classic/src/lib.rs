//! Classical image operations: exemplar-based (PatchMatch) object removal, scribble colorization, colour transfer
