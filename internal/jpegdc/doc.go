// Package jpegdc reads the luma of a baseline JPEG at 1/8 scale from its DC
// coefficients alone: one value per 8x8 luma block, the block's mean
// (DC*Q0/8 + 128, clamped to 0..255, Q0 being the first entry of the luma's
// quantisation table). It is what motion detection needs from a camera's
// MJPEG frames, at a fraction of a full decode's cost.
//
// Every coefficient is still Huffman-decoded — the AC ones only to be
// skipped, since the entropy-coded data has no length fields — but nothing
// else is done: no dequantisation of AC, no IDCT, no upsampling, no colour
// conversion. Chroma blocks are decoded and skipped the same way when they
// are interleaved with the luma; scans without luma are skipped unread, and
// decoding stops after the luma's scan. One lookup in a 4096-entry table
// (12 bits of the stream) decodes a code of up to 12 bits, and for an AC
// code also tells how many extra bits follow, so skipping an AC
// coefficient costs a lookup and a shift; longer codes, which are rare,
// take a short search. On a 1280x720 4:2:2 frame that is about 1/10 of
// image/jpeg's time with sensor noise (87 KB: 1.1 vs 11.7 ms on a 2-vCPU
// AMD EPYC) and under 1/30 on a flat picture (20 KB: 0.24 vs 9 ms); see
// BenchmarkDecode. Nothing is allocated in steady state: a Decoder keeps its
// output buffer and the tables frames define, rebuilding a table in place
// when it changes and not at all when it repeats.
//
// A block's DC is the mean of its pixels before a full decoder rounds and
// clips them: the values match image/jpeg's 8x8 block means within 1
// level, except in blocks where the full decode clips ringing at 0 or 255
// (saturated edges): there the DC keeps the unclipped mean, within 2
// levels of the clipped one at webcam qualities.
//
// It reads SOF0 and SOF1 frames with 8-bit samples, of 1 component
// (grayscale) or 3 (YCbCr) with any sampling factors that do not sample
// chroma more finely than luma (4:4:4, 4:2:2 as UVC cameras send, 4:2:0 as
// libjpeg and ffmpeg default to), interleaved or not, with restart
// intervals (DRI, RSTn), and without DHT, as UVC cameras' MJPEG ("AVI1")
// comes: the standard tables of ITU T.81 Annex K.3 then apply, as in
// libjpeg and browsers. Pictures whose size is not a multiple of the block
// give a last column or row of partial blocks (their means include the
// encoder's padding).
//
// It refuses, with ErrUnsupported, what a full decoder may still read:
// progressive, lossless, hierarchical and arithmetic-coded JPEGs, 12-bit
// samples, CMYK and RGB, chroma sampled more finely than luma, a height
// given by DNL. Truncated or corrupt data is an error, never a panic.
package jpegdc
