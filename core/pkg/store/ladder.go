package store

// ThumbnailLadder holds the only thumbnail sizes (longest side, pixels)
// that are rendered and stored, by pixie-core on demand and by the
// thumbnailer plugin ahead of time: a request is served the smallest step
// at least as large, so one photo has at most len(ThumbnailLadder) stored
// thumbnails, and each is found under the same key whoever rendered it.
var ThumbnailLadder = []int{64, 128, 256, 512, 1024, 2048}

// LadderStep is the ladder step that serves a request for size: the
// smallest at least as large, or the largest.
func LadderStep(size int) int {
	for _, step := range ThumbnailLadder {
		if step >= size {
			return step
		}
	}
	return ThumbnailLadder[len(ThumbnailLadder)-1]
}
