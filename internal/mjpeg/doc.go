// Package mjpeg handles JPEG frames as bytes without decoding them.
//
// It checks and trims frames (SOI .. EOI), reads the image size from the
// frame header, inserts the standard Huffman tables into frames that lack
// them, reads and writes the comment segment that camrec stamps on its
// synthetic frames, and splits a concatenated MJPEG byte stream into frames.
// Nothing here decodes entropy-coded data; every function walks the marker
// segments of the JPEG header (ITU T.81, B.1).
package mjpeg
