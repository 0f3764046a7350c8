package upsert

// deletes reports whether this upserter can apply delete deltas.
func (u *Upserter) deletes() bool { return false }
